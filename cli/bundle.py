"""``custody export`` and ``custody verify-bundle``: evidence bundles anyone can check offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import click

from cli import render
from cli.context import ledger_of, refuse_existing
from cli.errors import EXIT_FINDINGS
from cli.i18n import _
from cli.log import write_new_file
from cli.names import LOT
from cli.options import ID
from cli.steps import moment
from ledger.tlog.bundle import MAX_BUNDLE
from ledger.core.errors import InputError


@click.command("export", epilog="""\b
Examples:
  custody checkpoint --key log.key               # a checkpoint covering the head, first
  custody export math01.bundle --lot MATH-Q-0001
  custody export gaokao.bundle --exam gaokao-2026
  custody export morning.bundle --from 2026-06-07T06:00:00+08:00 --to 2026-06-07T12:00:00+08:00""")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lot", "lot_ids", multiple=True, type=LOT,
              help="A lot to put in the bundle (with its containers); repeat for more.")
@click.option("--exam", default=None, type=ID, help="Every lot registered for this exam.")
@click.option("--from", "start", default=None, metavar="TIME",
              help="Every lot with a step that occurred at or after TIME (RFC 3339), up to --to.")
@click.option("--to", "end", default=None, metavar="TIME",
              help="Every lot with a step that occurred at or before TIME (RFC 3339), from --from.")
@click.option("--force", is_flag=True, help="Replace BUNDLE if it exists (default: refuse).")
@click.pass_context
def export(ctx: click.Context, bundle_path: Path, lot_ids: Sequence[str], exam: str | None,
           start: str | None, end: str | None, force: bool) -> None:
    """Write BUNDLE: the lots' steps, their containers' and rooms' steps, the whole roster and
    the ledger's own events, each as stored with its inclusion proof, and the latest stored
    (cosigned) checkpoint. A new file unless --force; the ledger is only read.

    Needs a checkpoint covering the log's head ('custody checkpoint --key LOG.key')."""
    from ledger.application.bundle import export_bundle, lots_between
    from ledger.application.names import require_lots_of_exam

    chosen = [bool(lot_ids), exam is not None, start is not None or end is not None]
    if sum(chosen) != 1:
        raise InputError(_("export takes one of --lot L, --exam E, or --from T / --to T"))
    refuse_existing(bundle_path, force)
    app = ledger_of(ctx, read_only=True)
    if exam is not None:
        lots = require_lots_of_exam(app, exam)  # read once: a scan of the registrations
    elif lot_ids:
        lots = list(lot_ids)
    else:
        lots = lots_between(app, moment(start, "--from") if start else None,
                            moment(end, "--to") if end else None)
        if not lots:
            raise InputError(_("no lot took a step between --from and --to"))
    data, summary = export_bundle(app, lots)
    if force:
        from ledger.storage.files import write_file

        try:
            write_file(bundle_path, data, mode=0o644)
        except OSError as exc:
            raise InputError(_("cannot write bundle {path}: {error}").format(
                path=bundle_path, error=exc.strerror or exc)) from None
    else:
        write_new_file(bundle_path, data, "bundle file")
    click.echo(render.visible(_(
        "bundle {path}: {lots} lot(s), {events} events with inclusion proofs, checkpoint of "
        "{size} events, {bytes} bytes").format(path=bundle_path, lots=summary["lots"],
                                               events=summary["events"],
                                               size=summary["tree_size"],
                                               bytes=summary["bytes"])))


@click.command("verify-bundle", epilog="""\b
Examples:
  custody verify-bundle math01.bundle --trust auth.key.pub --log-key log.key.pub
  custody verify-bundle math01.bundle --trust auth.key.pub --log-key log.key.pub --json""")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trust_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The exam authority's public key file: the genesis must name this key.")
@click.option("--log-key", "log_key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The log's public key file: the checkpoint must be signed by it.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (schemas/report.schema.json, with a 'bundle' part).")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes that decode events, check proofs and verify signatures "
                   "(default: all cores; small bundles use one).")
@click.pass_context
def verify_bundle(ctx: click.Context, bundle_path: Path, trust_file: Path, log_key_file: Path,
                  as_json: bool, workers: int | None) -> None:
    """Check BUNDLE offline, with no database: the checkpoint's signature, every event's
    inclusion proof, then every hash, chain, signature and rule as 'custody verify' checks
    them. Exit 0 intact, 1 with findings, 2 for a file that is not a well-formed bundle."""
    from ledger.application.keystore import read_public_key
    from ledger.tlog.bundle import parse_bundle
    from ledger.verify.bundle import verify_bundle as check

    authority_key = read_public_key(trust_file)[0].raw
    log_key = read_public_key(log_key_file)[0].raw
    data = read_bundle(bundle_path)
    try:
        bundle = parse_bundle(data)
    except InputError as exc:
        raise InputError(_("bundle {path}: {error}").format(path=bundle_path, error=exc)) from None
    result = check(bundle, authority_key, log_key, workers=workers or os.cpu_count() or 1)
    if as_json:
        click.echo(render.json_text(result.to_data()))
    else:
        click.echo(render.visible(proven(result.bundle)))
        click.echo(render.report(result.report, _("bundle {path}").format(path=bundle_path)))
    if not result.report.intact:
        ctx.exit(EXIT_FINDINGS)


def proven(part: dict) -> str:
    """One line: the checkpoint the bundle was checked against, and what it proved."""
    checkpoint = part["checkpoint"]
    if checkpoint is None:
        return _("checkpoint: did not open with --log-key; no inclusion proof checked")
    line = _("checkpoint: {origin}, {size} events, root {root}…; {proved} of {events} "
             "inclusion proofs verified").format(
                 origin=checkpoint["origin"], size=checkpoint["size"],
                 root=checkpoint["root"][:16], proved=part["proofs_verified"],
                 events=part["events"])
    if part["witnesses"]:
        line += _("; cosigned by {witnesses}").format(witnesses=", ".join(
            f"{w['witness']} (time {w['time']})" for w in part["witnesses"]))
    return line


def read_bundle(path: Path) -> bytes:
    """The bundle file's bytes, its size checked before anything is read."""
    try:
        size = os.stat(path).st_size
        if size > MAX_BUNDLE:
            raise InputError(_("bundle {path} is {size} bytes, over the {limit} byte limit; "
                               "not a bundle custody exports").format(
                                   path=path, size=size, limit=MAX_BUNDLE))
        with open(path, "rb") as handle:
            data = handle.read(MAX_BUNDLE + 1)
    except OSError as exc:
        raise InputError(_("cannot read bundle {path}: {error}").format(
            path=path, error=exc.strerror or exc)) from None
    if len(data) > MAX_BUNDLE:
        raise InputError(_("bundle {path} is over {limit} bytes").format(path=path,
                                                                        limit=MAX_BUNDLE))
    return data
