"""What every command shares: the ledger at --db, receipts and messages, option groups."""

from __future__ import annotations

import os
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import click

from cli import render, times
from cli.i18n import _
from cli.options import (
    LOG_KEY_ENV,
    NOTE,
    PLACE,
    RECEIPT_KEY,
    TEXT,
    receipt_option,
    require_keys_of,
    unlock_signers,
)
from ledger.core.errors import InputError
from ledger.core.text import Message

if TYPE_CHECKING:  # imported where used: a read that needs no application starts without it
    from ledger.application.custody import CustodyLedger, Receipt


def keyfile_option(*names: str, multiple: bool = False, required: bool = True, help: str) -> Any:
    return click.option(*names, multiple=multiple, required=required, help=help,
                        type=click.Path(dir_okay=False, path_type=Path))


def authority_options(func: Any) -> Any:
    """--authority-key (whoever signs for the authority), its passphrase file, --occurred-at."""
    for option in reversed([
        keyfile_option("--authority-key", "authority_keys", multiple=True,
                       help="An authority's private key file; it signs. Repeat it when the "
                            "authority set's threshold asks for more than one signature."),
        click.option("--passphrase-file", "passphrase_files", multiple=True,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Passphrase of an authority key, for scripts (default: prompt); one "
                          "per --authority-key, in order. Keep it mode 600: one group or "
                          "others can read gets a warning."),
        click.option("--occurred-at", "when", metavar="TIME",
                     help="RFC 3339 with offset (default: now)."),
        receipt_option,
    ]):
        func = option(func)
    return func


def public_key_of(path: Path, person_id: str) -> Any:
    """The key in a .pub file, refused if the file names someone else."""
    from ledger.application.keystore import read_public_key

    public_key, label = read_public_key(path)
    if label is not None and label != person_id:
        raise InputError(f"{path} is the public key of {label}, not {person_id}")
    return public_key


def authority_signers(authority_keys: Sequence[Path], passphrase_files: Sequence[Path],
                      app: CustodyLedger | None = None) -> Any:
    """The authorities signing: every --authority-key, unlocked. Given the ledger, a key of
    someone outside its authority set is refused as such before any passphrase is asked."""
    if app is not None:
        require_keys_of(authority_keys, app.ledger().authorities.members,
                        Message("in the authority set"))
    return unlock_signers(authority_keys, passphrase_files)


def passphrase_files_option() -> Any:
    return click.option(
        "--passphrase-file", "passphrase_files", multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="File holding a key's passphrase (first line), for scripts; one per key, in order. "
             "Without it you are prompted, hidden. Keep it mode 600: one group or others can "
             "read gets a warning.")


def place_option() -> Any:
    return click.option(
        "--place", default=None, type=PLACE,
        help="The registered place the step happens at: room:ID or site:ID (--location is then "
             "the detail within it). Presence conflicts are judged between places; a step "
             "with only a --location is never compared.")


def step_options(func: Any) -> Any:
    """Options every co-signed step takes."""
    for option in reversed([
        place_option(),
        click.option("--location", required=True, type=TEXT, help="Where the step happens."),
        click.option("--occurred-at", "when", metavar="TIME",
                     help="When it happened, RFC 3339 with offset (default: now)."),
        keyfile_option("--sign", "keyfiles", multiple=True, required=True,
                       help="Key file of one person present; repeat for everyone who co-signs."),
        passphrase_files_option(),
        click.option("--note", default=None, type=NOTE,
                     help="Free text kept with the step (one line)."),
        receipt_option,
    ]):
        func = option(func)
    return func


def ledger_of(ctx: click.Context, *, create: bool = False, read_only: bool = False,
              names: bool = True) -> CustodyLedger:
    """The ledger at --db. Read commands open it ``read_only``: they never write to it.
    Every id the command was given that must name something in the ledger is checked here
    (``cli.names``), before any key is unlocked.

    A writing command gets the log's append hook when it has work for it (a checkpoint to
    sign with CUSTODY_LOG_KEY, a --receipt file to write: ``cli.log``), and brings the view up
    to date once it succeeded. Without either, the log's modules are never imported."""
    from cli.names import require_named
    from ledger.application.custody import open_ledger

    app = open_ledger(ctx.obj["db"], create=create, read_only=read_only)
    times.from_ledger(lambda: app.ledger().time_zone)
    if not read_only:
        ctx.find_root().obj["writer"] = app  # closed by the root group, whatever happens
    if names:
        require_named(ctx, lambda: _log_names(app))
    if not read_only and (os.environ.get(LOG_KEY_ENV) or RECEIPT_KEY in ctx.meta):
        from cli.log import install_append_hook

        install_append_hook(ctx, app)
    return app


def _log_names(app: CustodyLedger) -> Any:
    from ledger.application.names import LogNames

    app.ledger()  # a database with no ledger says so before any id is looked up in it
    return LogNames(app)


def print_receipt(receipt: Receipt) -> None:
    click.echo(render.receipt(receipt))


def say(text: str) -> None:
    """Print one message of the command's own, its values escaped (``render.visible``)."""
    click.echo(render.visible(text))


def echo_lines(lines: Iterable[str], batch: int = 1000) -> None:
    """Print a listing, ``batch`` lines to a write: a province's lots, a line each, would
    otherwise cost a write and a flush a line."""
    lines = iter(lines)
    while chunk := list(islice(lines, batch)):
        click.echo("\n".join(chunk))


def refuse_existing(path: Path, force: bool) -> None:
    """One rule for the files `report` and `export` write: an existing one is replaced only
    with --force, so a report or a bundle kept as evidence is never lost by a rerun."""
    if not force and path.exists():
        raise InputError(_("{path} already exists; choose another file, or give --force to "
                           "replace it").format(path=path))
