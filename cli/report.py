"""`custody report`: the discipline inspector's readable account, as one HTML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from cli import render, times
from cli.context import ledger_of, refuse_existing, say
from cli import i18n
from cli.i18n import _, ngettext, translated
from cli.names import EXAM, LOT
from cli.steps import moment
from cli.verify import run_verifier
from ledger.core import canonical
from ledger.core.errors import InputError
from ledger.storage.files import write_file


@click.command(epilog="""\b
Examples:
  custody report --out report.html
  custody report --out lot.html --lot MATH-Q-0001
  custody report --out exam.html --exam gaokao-2026
  custody report --out night.html --from 2026-06-07T18:00:00+08:00 --to 2026-06-08T08:00:00+08:00""")
@click.option("--out", "out", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write, whole or not at all (mode 0644); one that exists is "
                   "refused unless --force.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--lot", "lot_id", default=None, type=LOT, help="Only this lot (and its containers' "
              "steps while it was packed in them, and the rooms it stayed in).")
@click.option("--exam", default=None, type=EXAM, help="Only the lots of this exam.")
@click.option("--from", "since", default=None, metavar="TIME",
              help="Only lots with a step at or after TIME (RFC 3339), and their steps from then.")
@click.option("--to", "until", default=None, metavar="TIME",
              help="Only lots with a step at or before TIME (RFC 3339), and their steps until then.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes that verify signatures (default: all cores).")
@click.pass_context
def report(ctx: click.Context, out: Path, force: bool, lot_id: str | None, exam: str | None,
           since: str | None, until: str | None, workers: int | None) -> None:
    """Write a self-contained HTML report: the verification summary (intact, or every
    finding with its evidence), each lot's custody timeline, secure-room duty coverage with
    its gaps as a chart, and the signed checkpoint it was made from.

    The file loads nothing from anywhere (inline style, an inline SVG chart, no script) and
    prints as it displays. Everything from the ledger in it is escaped."""
    from ledger.report.data import gather
    from ledger.report.selection import Selection
    from ledger.report.html import render as render_html

    selection = Selection(lot=lot_id, exam=exam,
                          since=moment(since, "--from") if since is not None else None,
                          until=moment(until, "--to") if until is not None else None)
    _refuse_unwritable(out)
    refuse_existing(out, force)
    from cli.views import view_answer  # the view at the log's head, as every read command gets it

    answer = view_answer(ctx)
    app = ledger_of(ctx, read_only=True)
    now = canonical.format_timestamp(app.clock())

    def verify() -> Any:
        return run_verifier(ctx, None, 1, None, workers, show_bar=True).report

    data = gather(app, answer.view, answer.position, selection, now=now, verify=verify)
    html = render_html(data, _, ngettext, lang=i18n.language(), words=_words())
    _write(out, html)
    verdict = _("intact") if data.intact else _("NOT intact")
    say(_("wrote {out}: {lots} lot(s), {rooms} secure room(s), {findings} finding(s); the "
          "ledger is {verdict}; as of log position {position}").format(
        out=out, lots=len(data.lots), rooms=len(data.rooms), findings=len(data.findings),
        verdict=verdict, position=data.log_position))


def _words() -> Any:
    """The ledger's words in the reader's language, and its times in the command's zone, as
    ``status`` and ``verify`` show them."""
    from ledger.report.html import Words

    return Words(text=translated, step=render.step_name, kind=_kind_name,
                 role=render.role_name, when=times.local)


def _kind_name(kind: str) -> str:
    return _(kind) if kind in render.KIND_NAMES else kind


def _refuse_unwritable(out: Path) -> None:
    """Refuse an --out that cannot be written before any work is done."""
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise InputError(_("--out {out} is a directory; name a file").format(out=out))
    if not folder.is_dir():
        raise InputError(_("--out {out}: folder {folder} does not exist; create it or name "
                           "another").format(out=out, folder=folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(_("--out {out}: folder {folder} is not writable; name another "
                           "file").format(out=out, folder=folder))


def _write(out: Path, text: str) -> None:
    """Write the report whole or not at all: a reader never sees half a report, and a
    failed write leaves the old one and nothing else behind."""
    try:
        write_file(out, text.encode("utf-8"), mode=0o644)  # a report to hand around
    except OSError as exc:
        raise InputError(render.visible(_("--out {out}: cannot write it ({error}); nothing "
                                          "was written").format(out=out, error=exc.strerror
                                                                or exc))) from None
