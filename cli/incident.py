"""After an incident: ``custody replay`` and ``custody timeline person|room``, from the view.

Each brings the view up to the log's head first (as status does) and says which log position
its answer reflects. The data is built in ``ledger.projections.timeline``; here it is only
printed: one line per step or moment that stands alone, then indented detail lines."""

from __future__ import annotations

from typing import Any

import click

from cli import render, times
from cli.context import say
from cli.i18n import N_, _, translated
from cli.names import EXAM, LOT, PERSON, ROOM
from cli.steps import moment
from cli.views import now, view_answer
from ledger.core.errors import InputError
from ledger.projections import timeline as tl


def _window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    start = moment(since, "--from") if since is not None else None
    end = moment(until, "--to") if until is not None else None
    if start is not None and end is not None and start > end:
        raise InputError(f"--from {since} is after --to {until}; give the earlier time first")
    return start, end


def _flags(findings: Any) -> str:
    if not findings:
        return _("no finding")
    codes = [f.code for f in findings]
    return ", ".join(sorted(set(codes), key=codes.index))


def finding_line(f: Any) -> str:
    """A finding a step carried, in the reader's language (the code stays as it is)."""
    return (f"{_(render.SEVERITIES.get(f.severity, f.severity))} {f.code}: "
            f"{translated(f.message)}")


# What a timeline's moments are, and a person's part in a step, in the reader's language.
KINDS = {"step": N_("step"), "duty": N_("duty"), "patrol": N_("patrol"),
         "stored": N_("stored"), "retrieved": N_("retrieved")}
PARTS = {"present": N_("present"), "released": N_("released"), "received": N_("received"),
         "holder": N_("holder"), "on duty": N_("on duty")}


def _check(name: str, check: Any) -> str | None:
    if check is None:
        return None
    if check.verdict == "ok":
        return _("{name} ok").format(name=name)
    return _("{name} {verdict}").format(name=name, verdict=check.verdict.upper())


def step_line(step: tl.ReplayStep) -> str:
    """One replayed step on one line that stands alone: where, when, what, who held the lot
    before and after, the presence verdict, the checks, and the codes of every finding."""
    moved = ""
    if step.lot is not None:
        moved = _("; held by {before} -> {after}").format(before=step.holder_before or "-",
                                                          after=step.holder_after or "-")
        if step.via:
            moved += _(" (in {container})").format(container=step.via)
    presence = (_("presence {verdict}").format(verdict=_(step.verdict)) if step.verdict
                else _("presence not judged"))
    if step.missing:
        presence += _(" (missing {missing})").format(missing=step.missing)
    checks = [c for c in (_check(_("seals"), step.seals), _check(_("count"), step.count)) if c]
    parts = [presence, *checks, _flags(step.findings)]
    return render.shown([f"{step.position:>6}  {times.local(step.occurred_at)}  "
                         + _("{stream} step {seq} {type} at {location}").format(
                             stream=step.stream, seq=step.seq,
                             type=render.step_name(step.type) if step.type
                             else _("(damaged row)"),
                             location=step.location or "-")
                         + f"{moved}; " + "; ".join(parts)])


def step_details(step: tl.ReplayStep) -> list[str]:
    lines = []
    if step.attendees:
        lines.append(_("present: ") + ", ".join(
            f"{p} ({render.role_name(r) if r else _('not enrolled')}"
            + ("" if c else _(", not counted")) + ")"
            for p, r, c in step.attendees))
    for name, check in (("seals", step.seals), ("count", step.count)):
        if check is not None and check.verdict != "ok":
            lines.append(_("{name}: expected {expected}, found {found}").format(
                name=_(name), expected=check.expected, found=check.found)
                + (_(" (acknowledged on record)") if check.verdict == "acknowledged" else ""))
    lines += [finding_line(f) for f in step.findings]
    return ["        " + render.visible(line) for line in lines]


@click.command(epilog="""\b
Examples:
  custody replay --lot MATH-Q-0001
  custody replay --exam gaokao-2026 --from 2026-06-07T06:00:00+08:00 \\
      --to 2026-06-07T12:00:00+08:00
  custody replay --room SR-3 --json""")
@click.option("--lot", "lot_id", default=None, type=LOT,
              help="Only this lot's steps (and its container's while it was packed).")
@click.option("--exam", default=None, type=EXAM, help="Only steps of this exam's lots.")
@click.option("--room", default=None, type=ROOM,
              help="Only this secure room's duty shifts and patrols, and lots into or out of it.")
@click.option("--from", "since", default=None, metavar="TIME",
              help="Only steps that occurred at or after TIME (RFC 3339).")
@click.option("--to", "until", default=None, metavar="TIME",
              help="Only steps that occurred at or before TIME (RFC 3339).")
@click.option("--json", "as_json", is_flag=True,
              help="Print as JSON (schemas/replay.schema.json).")
@click.pass_context
def replay(ctx: click.Context, lot_id: str | None, exam: str | None, room: str | None,
           since: str | None, until: str | None, as_json: bool) -> None:
    """Replay the steps in log order, as an inspector reconstructs an incident.

    Each step on one line: where and when, who held the lot before and after, the presence
    verdict, the seal and count checks, and the code of every finding at it; then, indented,
    who was present with their roster roles and each finding's message. Answered from the
    view (brought up to the log's head first); says which log position it reflects."""
    start, end = _window(since, until)
    chosen = [n for n, v in (("--lot", lot_id), ("--exam", exam), ("--room", room)) if v]
    if len(chosen) > 1:
        raise InputError(f"give one of --lot, --exam, --room (got {', '.join(chosen)})")
    answer = view_answer(ctx, show_bar=not as_json)
    data = tl.replay(answer.view, lot=lot_id, exam=exam, room=room, since=start, until=end)
    if as_json:
        click.echo(render.json_text(data.to_data()))
        return
    for step in data.steps:
        click.echo(step_line(step))
        for line in step_details(step):
            click.echo(line)
    flagged = sum(1 for s in data.steps if s.findings)
    say(_("{n} step(s), {f} with findings; as of log position {p}, from the view").format(
        n=len(data.steps), f=flagged, p=data.log_position or 0))


@click.group(epilog="""\b
Examples:
  custody timeline person POL-01
  custody timeline room SR-3 --json""")
def timeline() -> None:
    """Timelines after an incident: one person's, or one secure room's, in time order."""


def entry_line(entry: tl.Entry) -> str:
    """One moment of a timeline on one line that stands alone."""
    if entry.kind == "duty_gap":
        return render.shown([f"{times.local(entry.at)}  " + _(
            "DUTY GAP until {end}: {detail}").format(end=times.local(entry.end),
                                                      detail=translated(entry.detail))])
    where = _(" at {location}").format(location=entry.location) if entry.location else ""
    at = f"#{entry.position} " if entry.position is not None else ""
    if entry.kind == "duty" and entry.type == "duty":
        until = (_("until {end} (#{position})").format(end=times.local(entry.end),
                                                       position=entry.end_position)
                 if entry.end else _("still open"))
        text = f"{times.local(entry.at)}  {at}" + _("on duty in {room}{where}, {until}").format(
            room=entry.stream, where=where, until=until)
    else:
        what = _("{type} of {stream}").format(type=render.step_name(entry.type),
                                               stream=entry.stream)
        parts = (f" ({', '.join(_(PARTS.get(p, p)) for p in entry.parts)})" if entry.parts
                 else "")
        detail = f" — {translated(entry.detail)}" if entry.detail else ""
        kind = _(KINDS.get(entry.kind, entry.kind))
        text = f"{times.local(entry.at)}  {at}{kind}: {what}{where}{parts}{detail}"
    if entry.findings:
        text += f" [{_flags(entry.findings)}]"
    return render.shown([text])


def _print_timeline(data: tl.Timeline, as_json: bool) -> None:
    if as_json:
        click.echo(render.json_text(data.to_data()))
        return
    for entry in data.entries:
        click.echo(entry_line(entry))
        for f in entry.findings:
            if entry.kind != "duty_gap":
                click.echo("        " + render.visible(finding_line(f)))
    conflicts = sum(f.code == "PRESENCE_CONFLICT" for e in data.entries for f in e.findings)
    gaps = sum(e.kind == "duty_gap" for e in data.entries)
    extra = (f", {conflicts} PRESENCE_CONFLICT" if data.subject == "person"
             else _(", {gaps} duty gap(s)").format(gaps=gaps))
    say(_("{n} moment(s){extra}; as of log position {p}, from the view").format(
        n=len(data.entries), extra=extra, p=data.log_position or 0))


def timeline_options(func: Any) -> Any:
    """--from, --to and --json, as both timelines take them."""
    for option in reversed([
        click.option("--from", "since", default=None, metavar="TIME",
                     help="Only what happened at or after TIME (RFC 3339)."),
        click.option("--to", "until", default=None, metavar="TIME",
                     help="Only what happened at or before TIME (RFC 3339)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print as JSON (schemas/timeline.schema.json)."),
    ]):
        func = option(func)
    return func


@timeline.command("person", epilog="""\b
Examples:
  custody timeline person POL-01
  custody timeline person STF-05 --from 2026-06-07T06:00:00+08:00 --json""")
@click.argument("person_id", type=PERSON)
@timeline_options
@click.pass_context
def timeline_person(ctx: click.Context, person_id: str, since: str | None, until: str | None,
                    as_json: bool) -> None:
    """Everything PERSON_ID signed, released, received or held, and every duty shift they
    were on, in time order with places; a step where they were somewhere else at once is
    flagged PRESENCE_CONFLICT at that moment."""
    start, end = _window(since, until)
    answer = view_answer(ctx, show_bar=not as_json)
    _print_timeline(tl.person_timeline(answer.view, person_id, since=start, until=end),
                    as_json)


@timeline.command("room", epilog="""\b
Examples:
  custody timeline room SR-3
  custody timeline room SR-3 --from 2026-06-06T18:00:00+08:00 --json""")
@click.argument("room_id", type=ROOM)
@timeline_options
@click.pass_context
def timeline_room(ctx: click.Context, room_id: str, since: str | None, until: str | None,
                  as_json: bool) -> None:
    """A secure room's lots stored and retrieved, duty shifts with who was on duty after
    each, remote patrols, and every interval it held papers with too few on duty (the
    DUTY_UNCOVERED gaps verify reports), in time order."""
    start, end = _window(since, until)
    answer = view_answer(ctx, show_bar=not as_json)
    _print_timeline(tl.room_timeline(answer.view, room_id, now(), since=start, until=end),
                    as_json)
