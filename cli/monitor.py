"""``custody monitor``: watch a published log (tiles over HTTP, or a folder) with only its
public key, and say whether it still extends what was seen before."""

from __future__ import annotations

from pathlib import Path

import click

from cli import render
from cli.errors import EXIT_FINDINGS
from cli.i18n import _, translated
from ledger.application.keystore import read_public_key


@click.command("monitor", epilog="""\b
Examples:
  custody monitor https://log.exam.example/gd-gaokao-2026 --log-key log.key.pub \\
      --state ~/monitor-state
  custody monitor public --log-key log.key.pub --state ~/monitor-state --entries
The first run keeps the checkpoint in --state; each later one proves from the tiles that
the log extends it. A fork, a cut log or a rewritten tile: exit 1, one line each, and the
two checkpoints are kept in --state as evidence. With --entries every new event is read,
checked against its leaf and judged by the ledger's rules, as 'custody verify' judges it;
the audit carries on from where the last run stopped.""")
@click.argument("where", metavar="URL_OR_DIR")
@click.option("--log-key", "log_key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The log's public key file (LOG.key.pub): the checkpoint must be signed by "
                   "it.")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory where the monitor keeps the last checkpoint it checked (files "
                   "0600) and evidence of forks; without it, only the checkpoint served now "
                   "is checked.")
@click.option("--entries", is_flag=True,
              help="Also read every new event and judge it by the ledger's rules (resumed "
                   "from --state).")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              help="Seconds to wait for the server, per request.")
@click.pass_context
def monitor(ctx: click.Context, where: str, log_key_file: Path, state_dir: Path | None,
            entries: bool, timeout: float) -> None:
    """Check a published log: signed, consistent with what was seen, events intact."""
    from ledger.application.monitor import Monitor
    from ledger.network.client import source

    log_key, origin = read_public_key(log_key_file)
    served = source(where, timeout)
    try:
        watch = Monitor(served, log_key.raw, state_dir, entries, origin).run()
    finally:
        served.close()
    checkpoint = watch.checkpoint
    if checkpoint is not None:
        say(_("checkpoint of {origin} at {source}: {size} events, root {root}…, signed by the "
              "log key").format(origin=checkpoint.origin, source=watch.source,
                                size=checkpoint.size, root=checkpoint.root.hex()[:16]))
        if watch.previous is None and state_dir is not None:
            say(_("the first checkpoint of this log seen from {state}").format(state=state_dir))
        elif watch.previous is not None and watch.saved:
            say(_("it extends the checkpoint of {size} events seen before").format(
                size=watch.previous.size))
    if watch.audited_from is not None and watch.intact:
        say(_("checked {count} new event(s) from position {first} by the ledger's rules").format(
            count=watch.events, first=watch.audited_from + 1))
    for finding in watch.findings:
        say(f"{finding.code} " + translated(finding.message))
    if watch.evidence is not None:
        say(_("both checkpoints kept as evidence in {stem}.old.checkpoint and "
              ".new.checkpoint").format(stem=watch.evidence))
    if not watch.intact:
        errors = sum(1 for f in watch.findings if f.severity.value == "error")
        say(_("NOT intact: {errors} error(s); {state}").format(
            errors=errors, state=_("the state is unchanged") if not watch.saved
            else _("the checkpoint is kept, the audit is not saved")))
        ctx.exit(EXIT_FINDINGS)
    say(_("intact") + (_("; state saved in {state}").format(state=state_dir)
                       if state_dir is not None else ""))


def say(text: str) -> None:
    click.echo(render.visible(text))
