"""`custody verify`: the auditor's command (and the verifier runner `status --verified` uses)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import click

from cli import render
from cli.errors import EXIT_FINDINGS
from cli.i18n import _
from cli.options import (
    ID,
    read_bounded,
)
from cli.steps import moment
from ledger.core.errors import InputError
from ledger.domain.aggregates import lot_stream
from cli.context import (
    ledger_of,
)


@click.command(epilog="""\b
Examples:
  custody verify
  custody verify --lot MATH-01 --json > report.json
  custody verify --as-of 2026-06-07T14:05:00+08:00""")
@click.option("--lot", "lot_id", default=None, type=ID,
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
@click.option("--projections", is_flag=True,
              help="Also rebuild the view (status, history, presence) from the events, in "
                   "memory, and compare it with the stored one: PROJECTION_MISMATCH names the "
                   "first differing lot or step, PROJECTION_BEHIND says it lags the log.")
@click.pass_context
def verify(ctx: click.Context, lot_id: str | None, since: int, as_of: str | None,
           as_json: bool, workers: int | None, checkpoint_files: Sequence[Path],
           receipt_files: Sequence[Path], projections: bool) -> None:
    """Recompute every hash, walk every chain, verify every signature and rule; recompute the
    Merkle tree and check every stored checkpoint (and any given) against it.

    Reads every row of the log, whatever its position, and never writes to the database.
    The verification never reads the view; --projections compares it afterwards."""
    from ledger.verify.log import Evidence

    evidence = [Evidence(str(p), read_bounded(p, 1 << 20, "checkpoint")) for p in checkpoint_files]
    evidence += [Evidence(str(p), read_bounded(p, 1 << 20, "receipt"), receipt=True)
                 for p in receipt_files]
    verifier = run_verifier(ctx, lot_id, since, as_of, workers, show_bar=not as_json,
                             evidence=evidence)
    report = verifier.report
    if projections:
        from ledger.projections.compare import compare

        report.extend(compare(ledger_of(ctx, read_only=True)))
    if as_json:
        click.echo(render.json_text(report.to_data()))
    else:
        click.echo(render.report(report, verifier.label))
    if not report.intact:
        ctx.exit(EXIT_FINDINGS)


def run_verifier(ctx: click.Context, lot_id: str | None, since: int, as_of: str | None,
                  workers: int | None, *, show_bar: bool, evidence: Sequence[Any] = ()) -> Any:
    from ledger.verify import Verifier

    app = ledger_of(ctx, read_only=True)
    # A typo must not get a clean bill: a lot or a position that is not there is no verdict.
    if lot_id is not None and not app.has_stream(lot_stream(lot_id)):
        raise InputError(_("--lot {lot}: no lot {lot} is stored in {db}; check the lot id "
                           "('custody status' lists the lots)").format(lot=lot_id,
                                                                      db=app.backend.label))
    last = app.last_position() or 0
    if since > 1 and since > last:
        raise InputError(f"--since {since} is past the end of the log (its last position is "
                         f"{last}): there is nothing from there on to verify")
    verifier = Verifier(app.recorder, workers=workers or os.cpu_count() or 1, lot=lot_id,
                        since=since, as_of=moment(as_of, "--as-of") if as_of is not None else None,
                        now=app.clock(), evidence=evidence)
    ctx.call_on_close(verifier.close)  # its temporary file of per-stream state
    with click.progressbar(length=verifier.total(), label="verifying", file=render.stderr(),
                           hidden=not (show_bar and render.stderr_is_terminal())) as bar:
        verifier.report = verifier.run(progress=bar.update)
    verifier.label = app.backend.label
    return verifier
