"""``custody copy``: move a ledger between SQLite and PostgreSQL, either way."""

from __future__ import annotations

import click

from cli import render
from cli.i18n import _, translated


@click.command("copy", epilog="""\b
Examples:
  custody copy --from custody.db --to postgresql://db.exam.local/custody
  custody copy --from postgresql://db.exam.local/custody --to site-copy.db""")
@click.option("--from", "source", required=True, metavar="PATH|URL",
              help="The ledger to copy: a SQLite file or postgresql://host/db.")
@click.option("--to", "target", required=True, metavar="PATH|URL",
              help="An empty database: a new SQLite file, or an existing, empty PostgreSQL "
                   "database.")
def copy_command(source: str, target: str) -> None:
    """Move a ledger between SQLite and PostgreSQL, either way, verified identical.

    Every stored event is copied as stored, in log order, in one transaction (an interrupted
    copy leaves the target empty); then the two logs are compared event hash for event hash.
    A target that holds any event is refused. Positions are numbered afresh from 1 in the
    same order: a PostgreSQL source's skipped numbers are not reproduced. The Merkle tree is
    rebuilt from the copied events (the same leaves, so the same roots) and the stored
    checkpoints are copied with their cosignatures: the copy verifies against the same
    checkpoints, and proofs from it check against them.

    Then the target's view (what status, history and presence answer from) is built from the
    copied events, so the first read of the copy answers at once. If that fails, the copy
    stands: one warning line says to run 'custody projections rebuild --db TARGET', and the
    exit code is still 0 (the copy is complete and verified).
    """
    from ledger.application.transfer import copy_ledger
    from ledger.core.errors import StorageError
    from ledger.storage.backend import select_backend

    bar = click.progressbar(length=1, label="copying", file=render.stderr(),
                            hidden=not render.stderr_is_terminal())

    def total(n: int) -> None:
        bar.length = n

    with bar:
        report = copy_ledger(source, target, progress=bar.update, total=total)
    label = select_backend(target).label
    click.echo(_("copied {events} events from {source} to {target}; identical, event hash "
                 "for event hash (log digest {digest}, last event {last})").format(
                     events=report.events, source=select_backend(source).label,
                     target=label, digest=report.log_digest,
                     last=report.last_event_hash)
               + (_("; positions renumbered without the source's gaps") if report.renumbered
                  else ""))
    click.echo(_("Merkle tree rebuilt (root {root}); {n} stored checkpoint(s) copied with "
                 "their cosignatures").format(root=report.root, n=report.checkpoints))
    try:
        folded, position = _build_view(target)
    except StorageError as exc:
        # The copy committed and was proved identical: it stands, whatever the view did.
        click.echo(render.visible(_(
            "warning: the copy is complete, but its view was not built ({error}); run "
            "'custody projections rebuild --db {target}', or its first read will fold every "
            "event").format(error=translated(exc.args[0]), target=label)), err=True)
        return
    click.echo(_("view built in {target}: {folded} event(s) folded, at log position "
                 "{position}").format(target=label, folded=folded, position=position))


def _build_view(target: str) -> tuple[int, int]:
    from ledger.application.transfer import build_view

    bar = click.progressbar(length=1, label=_("building the view"), file=render.stderr(),
                            hidden=not render.stderr_is_terminal())

    def total(n: int) -> None:
        bar.length = n

    with bar:
        return build_view(target, progress=bar.update, total=total)
