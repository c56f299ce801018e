"""What every command shares: the ledger at --db, receipts and messages, option groups."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import click

from cli import render, times
from cli.options import (
    NOTE,
    PLACE,
    TEXT,
    receipt_option,
    unlock_signers,
)
from ledger.application.custody import CustodyLedger, Receipt, open_ledger
from ledger.application.keystore import read_public_key
from ledger.core.errors import InputError


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
    public_key, label = read_public_key(path)
    if label is not None and label != person_id:
        raise InputError(f"{path} is the public key of {label}, not {person_id}")
    return public_key


def authority_signers(authority_keys: Sequence[Path], passphrase_files: Sequence[Path]) -> Any:
    """The authorities signing: every --authority-key, unlocked."""
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


def ledger_of(ctx: click.Context, *, create: bool = False, read_only: bool = False) -> CustodyLedger:
    """The ledger at --db. Read commands open it ``read_only``: they never write to it.

    A writing command gets the log's append hook (a checkpoint with CUSTODY_LOG_KEY, a
    receipt with --receipt: ``cli.log``), and brings the view up to date once it succeeded."""
    app = open_ledger(ctx.obj["db"], create=create, read_only=read_only)
    times.from_ledger(lambda: app.ledger().time_zone)
    if not read_only:
        from cli.log import install_append_hook

        install_append_hook(ctx, app)
        ctx.find_root().obj["writer"] = app
    return app


def print_receipt(receipt: Receipt) -> None:
    click.echo(render.receipt(receipt))


def say(text: str) -> None:
    """Print one message of the command's own, its values escaped (``render.visible``)."""
    click.echo(render.visible(text))


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` whole or not at all: written to a temporary file beside
    it (created 0600, then given ``mode``), fsynced, and renamed over it. A failure raises
    the ``OSError`` (the caller words it) and leaves the old file and no temporary one."""
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                   dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
