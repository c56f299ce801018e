"""`custody verify`: the auditor's command (and the verifier runner `status --verified` uses)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import click

from cli import render
from cli.errors import EXIT_FINDINGS
from cli.i18n import _
from cli.names import LOT
from cli.options import (
    read_bounded,
)
from cli.steps import moment
from ledger.core import canonical
from ledger.core.errors import InputError, StorageError
from ledger.domain.aggregates import LEDGER_STREAM
from cli.context import (
    ledger_of,
)


@click.command(epilog="""\b
Examples:
  custody verify
  custody verify --lot MATH-01 --json > report.json
  custody verify --as-of 2026-06-07T14:05:00+08:00
  custody verify --state ~/audit-state    (the next run checks only newer events)""")
@click.option("--lot", "lot_id", default=None, type=LOT,
              help="Verify one lot (and the roster it relies on); a lot with no stored step is "
                   "a usage error.")
@click.option("--since", type=click.IntRange(1), default=1, metavar="POSITION",
              help="Report from this log position on (past the last one is a usage error). "
              "Earlier events are folded to rebuild the state; of them, only roster and "
              "authority signatures are checked again.")
@click.option("--as-of", "as_of", default=None, metavar="TIME",
              help="Verify the ledger as it stood at TIME: leave out what occurred later.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON "
              "(shape: schemas/report.schema.json).")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes that decode rows and verify signatures (default: all cores).")
@click.option("--checkpoint", "checkpoint_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A signed checkpoint kept from earlier: the log must still hold what it "
                   "commits to. Repeat.")
@click.option("--receipt", "receipt_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A receipt (c2sp.org/tlog-proof): its event must still be at its index. "
                   "Repeat.")
@click.option("--state", "state_dir", default=None, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Resumable audit: after an intact run, save the verified state in DIR "
                   "(0700); the next run proves the log still extends it and checks only the "
                   "newer events. Not with --lot, --since or --as-of.")
@click.option("--projections", is_flag=True,
              help="Also rebuild the view (status, history, presence) from the events, in "
                   "memory, and compare it with the stored one: PROJECTION_MISMATCH names the "
                   "first differing lot or step, PROJECTION_BEHIND says it lags the log.")
@click.pass_context
def verify(ctx: click.Context, lot_id: str | None, since: int, as_of: str | None,
           as_json: bool, workers: int | None, checkpoint_files: Sequence[Path],
           receipt_files: Sequence[Path], state_dir: Path | None, projections: bool) -> None:
    """Recompute every hash, walk every chain, verify every signature and rule; recompute the
    Merkle tree and check every stored checkpoint (and any given) against it, and every row
    of the stored tree too (ROOT_MISMATCH names the first differing one).

    Reads every row of the log, whatever its position, and never writes to the database.
    The verification never reads the view; --projections compares it afterwards.

    With --state DIR and a state saved there, it reads only the rows after the saved
    position, checks that the stored tree proves the log still extends the saved root, and
    says "resumed from position P (tree size N); checked K new events"; a damaged or
    another ledger's state file is refused (exit 2): delete DIR or run without --state."""
    from ledger.verify.log import Evidence

    if state_dir is not None:
        _check_state_options(lot_id, since, as_of)
    evidence = [Evidence(str(p), read_bounded(p, 1 << 20, "checkpoint")) for p in checkpoint_files]
    evidence += [Evidence(str(p), read_bounded(p, 1 << 20, "receipt"), receipt=True)
                 for p in receipt_files]
    verifier = run_verifier(ctx, lot_id, since, as_of, workers, show_bar=not as_json,
                             evidence=evidence, state_dir=state_dir)
    report = verifier.report
    saved = None
    if state_dir is not None and report.intact:
        from ledger.verify.saved_state import save

        # Only an intact run is saved: a run with findings leaves the saved state as it was.
        saved = save(state_dir, verifier.reached(), verifier.state)
    if projections:
        from ledger.projections.compare import compare

        report.extend(compare(ledger_of(ctx, read_only=True)))
    if as_json:
        click.echo(render.json_text({"log_position": verifier.last_position,
                                     **report.to_data()}))
    else:
        click.echo(render.report(report, verifier.label))
        if report.resumed is not None:
            click.echo(_("resumed from position {position} (tree size {size}); checked "
                         "{count} new events").format(position=report.resumed["position"],
                                                      size=report.resumed["tree_size"],
                                                      count=report.resumed["new_events"]))
        if saved is not None:
            click.echo(_("audit state saved in {path}").format(path=render.visible(str(saved))))
        elif state_dir is not None:
            click.echo(_("audit state not saved (the run is not intact); {path} is unchanged")
                       .format(path=render.visible(str(state_dir))))
    if not report.intact:
        ctx.exit(EXIT_FINDINGS)


def _check_state_options(lot_id: str | None, since: int, as_of: str | None) -> None:
    """--state saves the whole ledger's state as of its end: a partial run has none to save."""
    for given, option in ((lot_id is not None, "--lot"), (since > 1, "--since"),
                          (as_of is not None, "--as-of")):
        if given:
            raise InputError(_("--state cannot be combined with {option}: a resumable audit "
                               "verifies the whole ledger up to its end, and {option} checks "
                               "only part of it; run one or the other").format(option=option))


def _ledger_id(app: Any) -> str:
    """The id the ledger's genesis names, read from its one row (a cheap look)."""
    try:
        stored = app.recorder.select_events(LEDGER_STREAM, limit=1)
        ledger_id = canonical.decode(stored[0].state)["body"]["ledger"]
        if isinstance(ledger_id, str):
            return ledger_id
    except Exception:  # noqa: BLE001 - any damage: verify without --state says what it is
        pass
    raise StorageError(f"{app.backend.label} has no readable genesis to match a saved audit "
                       "state against; run 'custody verify' without --state for details")


def run_verifier(ctx: click.Context, lot_id: str | None, since: int, as_of: str | None,
                  workers: int | None, *, show_bar: bool, evidence: Sequence[Any] = (),
                  state_dir: Path | None = None) -> Any:
    from ledger.verify import Verifier
    from ledger.verify.saved_state import SavedState, exists

    # A typo must not get a clean bill: an unknown --lot is refused as ledger_of opens the
    # ledger (cli.names), and a position past the end here.
    app = ledger_of(ctx, read_only=True)
    last = app.last_position() or 0
    if since > 1 and since > last:
        raise InputError(f"--since {since} is past the end of the log (its last position is "
                         f"{last}): there is nothing from there on to verify")
    resume = None
    if state_dir is not None and exists(state_dir):
        resume = SavedState(state_dir, _ledger_id(app))
    verifier = Verifier(app.recorder, workers=workers or os.cpu_count() or 1, lot=lot_id,
                        since=since, as_of=moment(as_of, "--as-of") if as_of is not None else None,
                        evidence=evidence, resume=resume)
    ctx.call_on_close(verifier.close)  # its temporary file of per-stream state
    with click.progressbar(length=verifier.total(), label="verifying", file=render.stderr(),
                           hidden=not (show_bar and render.stderr_is_terminal())) as bar:
        verifier.report = verifier.run(progress=bar.update)
    verifier.label = app.backend.label
    return verifier
