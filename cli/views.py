"""Read commands answered from the view: status, history, presence, projections.

Each first brings the view up to the log's head (``ledger.projections.access``) and says
which log position its answer reflects. ``status --verified`` answers from a full
verification instead, as ``custody verify`` does, for whoever wants that guarantee."""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from cli import render, times
from cli.context import echo_lines, ledger_of, say
from cli.errors import EXIT_FINDINGS
from cli.i18n import _, translated
from cli.names import EXAM, HOLDER, LOT, PERSON, ROOM, require_named
from cli.options import TEXT, moment
from ledger.core.errors import InputError, LedgerError
from ledger.core.findings import CODES, Severity
from ledger.projections import history as lot_steps
from ledger.projections import queries
from ledger.projections.current import Answer, current_answer, genesis_time_zone
from ledger.projections.names import ViewNames


def refresh_after_write(app: Any) -> None:
    """After a write command succeeded: bring the view up to date. Its failure never undoes
    the write; the next read catches the view up instead."""
    from eventsourcing.persistence import PersistenceError
    from ledger.projections import access

    try:
        access.refresh(app)
    except (LedgerError, PersistenceError, sqlite3.Error, access.StaleView) as exc:
        click.echo(render.visible(_("warning: the view was not brought up to date ({error}); "
                                    "the next read will").format(error=exc)), err=True)


def view_answer(ctx: click.Context, *, show_bar: bool = False) -> Answer:
    """A view at the log's head: the stored one read as it is when it stands there (on
    SQLite, without even opening the application), else brought up to the head first."""
    current = current_answer(ctx.obj["db"])
    if current is not None:
        ctx.call_on_close(current.owner.close)
        times.from_ledger(lambda: genesis_time_zone(current.view))
        require_named(ctx, lambda: ViewNames(current.view))
        return current
    from ledger.projections import access

    app = ledger_of(ctx, read_only=True, names=False)  # checked against the view, below
    app.ledger()  # a database with no ledger in it is one error line
    total = max(0, (app.last_position() or 0))
    with click.progressbar(length=total, label=_("bringing the view up to date"),
                           file=render.stderr(),
                           hidden=not (show_bar and render.stderr_is_terminal())) as bar:
        answer = access.for_reading(app, lambda: _ledger_writer(ctx), progress=bar.update)
    note = answer.note(app.backend.label)
    if note is not None:
        click.echo(render.visible(_("note: {note}").format(note=translated(note))), err=True)
    require_named(ctx, lambda: ViewNames(answer.view))
    return answer


def now() -> str:
    """Now, as the ledger writes times: a room still holding papers has a duty gap that runs
    up to the moment the question is asked."""
    from datetime import datetime, timezone

    from ledger.core.canonical import format_timestamp

    return format_timestamp(datetime.now(timezone.utc))


def _ledger_writer(ctx: click.Context) -> Any:
    from ledger.application.custody import open_ledger

    writer = open_ledger(ctx.obj["db"])
    ctx.call_on_close(writer.close)
    return writer


@click.command(epilog="""\b
Examples:
  custody status
  custody status MATH-Q-0001
  custody status --holder room:SR-3 --exam gaokao-2026
  custody status --as-of 2026-06-07T14:05:00+08:00 --json
  custody status --at 120
  custody status --verified""")
@click.argument("lot_id", required=False, type=LOT)
@click.option("--exam", default=None, type=EXAM, help="Only lots of this exam.")
@click.option("--subject", default=None, type=TEXT, help="Only lots of this subject.")
@click.option("--location", default=None, type=TEXT, help="Only lots whose last step was here.")
@click.option("--holder", default=None, type=HOLDER, help="Only lots held by this party.")
@click.option("--as-of", "as_of", default=None, metavar="TIME",
              help="Where everything was at TIME (RFC 3339).")
@click.option("--at", "at", default=None, type=click.IntRange(0), metavar="POSITION",
              help="Where everything was once the log held its events up to POSITION.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--verified", is_flag=True,
              help="Answer from a full verification of every event instead of the view.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="With --verified: worker processes that verify signatures "
                   "(default: all cores).")
@click.pass_context
def status(ctx: click.Context, lot_id: str | None, exam: str | None, subject: str | None,
           location: str | None, holder: str | None, as_of: str | None, at: int | None,
           as_json: bool, verified: bool, workers: int | None) -> None:
    """Where every lot is, who holds it, its last step, and the findings its steps carried.

    Answered from the view (brought up to the log's head first) and says which log position
    it reflects; --verified answers from a full verification, as 'custody verify' does."""
    if at is not None and (as_of is not None or verified):
        raise InputError("--at cannot be combined with --as-of or --verified; give one cut")
    if verified:
        return _verified_status(ctx, lot_id, exam, subject, location, holder, as_of, as_json,
                                workers)
    answer = view_answer(ctx, show_bar=not as_json)
    view, position = answer.view, answer.position
    filters = dict(lot=lot_id, exam=exam, subject=subject, location=location, holder=holder)
    if at is not None:
        if position is None or at > position:
            raise InputError(f"--at {at} is past the end of the log (its last position is "
                             f"{position or 0})")
        rows = queries.filter_lots(queries.lots_at(view, position=at), **filters)
        position = at
    elif as_of is not None:
        rows = queries.filter_lots(queries.lots_at(view, as_of=moment(as_of, "--as-of")),
                                   **filters)
    else:
        rows = queries.lots_now(view, **filters)
    if lot_id is not None and not rows:
        raise InputError(_("unknown lot {lot}").format(lot=lot_id))
    record = queries.on_record(view, at)
    if as_json:
        click.echo(render.json_text(render.status_object(
            position, False, record.errors, record.warnings,
            [render.status_data(lot, held_by, lot.findings) for lot, held_by in rows])))
        return
    echo_lines(render.status_line(lot, held_by, lot.findings) for lot, held_by in rows)
    where = _("as of log position {position}, from the view").format(position=position or 0)
    if record.errors:
        say(_("{lots} lot(s) {where}: {errors} error(s) and {warnings} warning(s) on record; "
              "the ledger is NOT intact — run 'custody verify'").format(
                  lots=len(rows), where=where, errors=record.errors,
                  warnings=record.warnings))
    else:
        say(_("{lots} lot(s) {where}: no error on record, {warnings} warning(s) ('custody "
              "status --verified' or 'custody verify' checks every signature again)").format(
                  lots=len(rows), where=where, warnings=record.warnings))


def _verified_status(ctx: click.Context, lot_id: str | None, exam: str | None,
                     subject: str | None, location: str | None, holder: str | None,
                     as_of: str | None, as_json: bool, workers: int | None) -> None:
    from cli.verify import run_verifier
    from ledger.core.custody import effective_holder

    verifier = run_verifier(ctx, None, 1, as_of, workers, show_bar=not as_json)
    rows = []
    for stream, lot_state in verifier.state.lots.items():
        held_by = effective_holder(lot_state, verifier.state.lots.get)
        wanted = [(lot_id, lot_state.lot_id), (exam, lot_state.exam),
                  (subject, lot_state.subject), (location, lot_state.location), (holder, held_by)]
        if all(want is None or want == have for want, have in wanted):
            rows.append((lot_state, held_by, verifier.findings_by_stream.get(stream, 0)))
    rows.sort(key=lambda row: row[0].lot_id)
    if lot_id is not None and not rows:
        raise InputError(_("unknown lot {lot}").format(lot=lot_id))
    report = verifier.report
    errors, warnings = len(report.errors), len(report.findings) - len(report.errors)
    if as_json:
        click.echo(render.json_text(render.status_object(
            verifier.last_position, True, errors, warnings,
            [render.status_data(lot, held_by, findings) for lot, held_by, findings in rows])))
    else:
        echo_lines(render.status_line(lot, held_by, findings) for lot, held_by, findings in rows)
        say(_("{lots} lot(s); the ledger is intact").format(lots=len(rows))
            if report.intact else
            _("{lots} lot(s); the ledger is NOT intact ({errors} error(s)); run 'custody "
              "verify' for details").format(lots=len(rows), errors=errors))
    if not report.intact:
        ctx.exit(EXIT_FINDINGS)  # as verify: a caller's script sees the verdict


@click.command(epilog="""\b
Examples:
  custody history MATH-01
  custody history MATH-01 --json""")
@click.argument("lot_id", type=LOT)
@click.option("--json", "as_json", is_flag=True,
              help="Print as JSON (schemas/history.schema.json): each step as signed, with "
                   "its position, presence record and findings.")
@click.pass_context
def history(ctx: click.Context, lot_id: str, as_json: bool) -> None:
    """The steps of LOT_ID in order, with who was present and the presence verdict.

    While the lot was packed, the steps of its container are listed too, marked with it.
    Answered from the view (brought up to the log's head first), which says which steps;
    each step is then read from the log by its position and printed as it was signed."""
    app = ledger_of(ctx, read_only=True)
    app.ledger()
    answer = view_answer(ctx)
    if not lot_steps.known(answer.view, lot_id):
        raise InputError(_("unknown lot {lot}").format(lot=lot_id))
    # Read and render every step before printing: a damaged one ends it with one error line.
    events = lot_steps.lot_history(answer.view, app.events_at, lot_id)
    records = queries.steps_of(answer.view, [(e.body["stream"], e.body["seq"])
                                             for e, _container in events])
    if as_json:
        click.echo(render.json_text(render.history_object(
            lot_id, answer.position, [(event, container,
                                       records.get((event.body["stream"], event.body["seq"])))
                                      for event, container in events])))
        return
    steps = [render.step(event, app.member, container, number)
             + render.verdict(records.get((event.body["stream"], event.body["seq"])))
             for (event, container), number in zip(events, render.numbered(events))]
    echo_lines(steps)
    say(_("{steps} step(s), as of log position {position}").format(
        steps=len(steps), position=answer.position or 0))


@click.command(epilog="""\b
Examples:
  custody presence --lot MATH-Q-0001
  custody presence --person POL-01 --json
  custody presence --exam gaokao-2026 --violations""")
@click.option("--lot", "lot_id", default=None, type=LOT, help="Only this lot's steps.")
@click.option("--exam", default=None, type=EXAM, help="Only steps of this exam's lots.")
@click.option("--person", default=None, type=PERSON,
              help="Only steps this person attended, released or received a lot at.")
@click.option("--room", default=None, type=ROOM,
              help="Only this secure room's duty shifts and patrols, and lots into or out of "
                   "it; then also every interval it held papers with too few on duty.")
@click.option("--violations", is_flag=True,
              help="Only steps short of the presence policy or carrying a finding.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def presence(ctx: click.Context, lot_id: str | None, exam: str | None, person: str | None,
             room: str | None, violations: bool, as_json: bool) -> None:
    """Every step with who was present, their roster roles, the policy and its verdict.

    The presence record ("two police officers and four staff at each step") as a table:
    one line per step, the people who counted and anyone listed who did not."""
    chosen = [name for name, value in (("--lot", lot_id), ("--exam", exam),
                                       ("--person", person), ("--room", room)) if value]
    if len(chosen) > 1:
        raise InputError(f"give one of --lot, --exam, --person, --room (got {', '.join(chosen)})")
    answer = view_answer(ctx, show_bar=not as_json)
    rows = queries.presence(answer.view, lot=lot_id, exam=exam, person=person, room=room,
                            violations=violations)
    # A room's duty gaps, judged up to now for a room that still holds papers (as verify).
    gaps = ([] if room is None else queries.duty_gaps(answer.view, now(), room))
    short = sum(row.verdict == "short" for row in rows)
    if as_json:
        codes = [code for row in rows for code in row.findings]
        errors = sum(CODES[code][0] is Severity.ERROR for code in codes if code in CODES)
        data: dict[str, Any] = {"log_position": answer.position, "short": short,
                                "errors": errors, "warnings": len(codes) - errors,
                                "steps": [row.to_data() for row in rows]}
        if room is not None:
            data["duty_gaps"] = [gap.evidence for gap in gaps]
        click.echo(render.json_text(data))
        return
    echo_lines(render.presence_line(row) for row in rows)
    for gap in gaps:
        click.echo(render.visible(_("duty gap: {message}").format(
            message=translated(gap.message))))
    gap_count = _(", {gaps} duty gap(s)").format(gaps=len(gaps)) if room is not None else ""
    say(_("{steps} step(s), {short} short of the presence policy{gaps}; as of log position "
          "{position}").format(steps=len(rows), short=short, gaps=gap_count,
                               position=answer.position or 0))


@click.group()
def projections() -> None:
    """The view status, history and presence are answered from (docs/operations.md)."""


@projections.command("status", epilog="""\b
Examples:
  custody projections status
  custody projections status --json""")
@click.option("--json", "as_json", is_flag=True,
              help="Print as JSON (schemas/projections-status.schema.json).")
@click.pass_context
def projections_status(ctx: click.Context, as_json: bool) -> None:
    """Where the stored view stands against the log's head. Writes nothing."""
    from ledger.projections import access

    app = ledger_of(ctx, read_only=True)
    app.ledger()
    head = app.last_position() or 0
    view = access.stored_view(app)
    position = view.position() if view is not None else None
    meta = view.meta() if view is not None and position is not None else {}
    if as_json:
        click.echo(render.json_text({
            "log_position": position, "head": head,
            "behind": head - (position or 0) if position is None or position < head else 0,
            "events": meta.get("events", 0), "intact": meta.get("errors", 0) == 0,
            "errors": meta.get("errors", 0), "warnings": meta.get("warnings", 0)}))
        return
    if position is None:
        say(_("no view stored yet; the log's head is position {head} (any read command, or "
              "'custody projections rebuild', builds it)").format(head=head))
        return
    behind = (_("up to date") if position >= head else
              _("{count} position(s) behind").format(count=head - position))
    say(_("view at log position {position}, the log's head at {head}: {behind}; {events} "
          "event(s) folded, {errors} error(s) and {warnings} warning(s) on record").format(
        position=position, head=head, behind=behind, events=meta.get("events", 0),
        errors=meta.get("errors", 0), warnings=meta.get("warnings", 0)))


@projections.command("rebuild", epilog="Example: custody projections rebuild")
@click.pass_context
def projections_rebuild(ctx: click.Context) -> None:
    """Empty the view and fold every event into it again, with a progress bar.

    A page of events per transaction, so memory stays bounded and an interrupted rebuild
    leaves a consistent view that the next command carries on from."""
    from ledger.projections import access

    app = ledger_of(ctx)
    ctx.find_root().obj.pop("writer", None)  # the rebuild is the view's update
    ctx.call_on_close(app.close)
    app.ledger()
    with click.progressbar(length=app.last_position() or 0, label=_("rebuilding the view"),
                           file=render.stderr(), hidden=not render.stderr_is_terminal()) as bar:
        folded = access.rebuild(app, progress=bar.update)
    view = access.writable_view(app)
    say(_("rebuilt the view: {folded} event(s) folded, at log position {position}").format(
        folded=folded, position=view.position() or 0))
