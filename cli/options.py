"""Shared option parsing: times, passphrases and key files, each with a one-line error."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import click

from ledger.application.keystore import Signer, read_key_file
from ledger.core.canonical import parse_rfc3339
from ledger.core.errors import InputError, KeyringError, LedgerError
from ledger.core.keys import MAX_PASSPHRASE
from ledger.domain.schemas import value_problem

MAX_PASSPHRASE_FILE = MAX_PASSPHRASE + 2


class Checked(click.ParamType):
    """A string option or argument checked against a definition of ``schemas/common.json``
    (``id``, ``party``, ``text``, ``note``, ``hash``): the same rule as the event field it
    fills, refused as one line naming the option, before any key is unlocked."""

    def __init__(self, kind: str, metavar: str) -> None:
        self.kind = kind
        self.name = metavar

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        problem = value_problem(self.kind, value)
        if problem is not None:
            raise InputError(f"{_named(param)}: {problem}")
        return value


def _named(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name if param is not None else "value"


ID = Checked("id", "ID")
PARTY = Checked("party", "PARTY")
TEXT = Checked("text", "TEXT")
NOTE = Checked("note", "TEXT")
DIGEST = Checked("hash", "SHA256")
PLACE = Checked("place", "PLACE")


def refuse_undecodable(args: Sequence[str]) -> None:
    """Refuse an argument that was not valid UTF-8.

    On Linux, Python hands undecodable argv bytes over as lone surrogates (PEP 383); one
    would reach the database encoder and end in a traceback. Refused here, by position and
    the option it belongs to."""
    for index, arg in enumerate(args):
        if any("\ud800" <= c <= "\udfff" for c in arg):
            option = arg.split("=", 1)[0] if arg.startswith("--") else (
                args[index - 1] if index and args[index - 1].startswith("-") else None)
            raw = arg.encode("utf-8", "surrogateescape")
            raise InputError(
                f"argument {index + 1}" + (f" ({option})" if option else "")
                + f" is not valid UTF-8: {raw!r}; give every argument as UTF-8 text")



def occurred_at(value: str | None, clock) -> datetime:  # type: ignore[no-untyped-def]
    """Parse --occurred-at (RFC 3339 with offset); default: now."""
    if value is None:
        return clock()
    try:
        return parse_rfc3339(value)
    except InputError as exc:
        raise InputError(f"--occurred-at: {exc}") from None


def read_bounded(path: Path, limit: int, what: str,
                 error: type[LedgerError] = InputError) -> bytes:
    """Read a file the user named, refusing one larger than ``limit`` bytes."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise error(f"{what} {path} is over {limit} bytes")
    return data


def read_passphrase_file(path: Path) -> bytes:
    """The first line of a passphrase file, without its newline (scripted use).

    A regular file that group or others can read is still used (scripts keep working), with
    a one-line warning on stderr: unlike a key file, whose passphrase still protects it, this
    file is the secret itself."""
    data = read_bounded(path, MAX_PASSPHRASE_FILE, "passphrase file", KeyringError)
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o044:
        click.echo(f"warning: passphrase file {path} is readable by group or others "
                   f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}", err=True)
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise KeyringError(f"passphrase file {path} is empty")
    return line


def prompt_passphrase(prompt: str, *, confirm: bool = False) -> bytes:
    """Prompt hidden (twice when ``confirm``); the passphrase never echoes nor logs."""
    try:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm,
                             err=True, show_default=False)
    except click.Abort:
        raise KeyringError(
            f"no passphrase given at the prompt '{prompt}': type it, "
            "or pass --passphrase-file for scripted use"
        ) from None
    return value.encode("utf-8")


def unlock_signers(keyfiles: Sequence[Path], passphrase_files: Sequence[Path]) -> list[Signer]:
    """Load every --sign key; passphrases from --passphrase-file in order, else prompted."""
    if len(passphrase_files) > len(keyfiles):
        raise InputError(
            f"{len(passphrase_files)} --passphrase-file for {len(keyfiles)} --sign key(s); "
            "give at most one per key, in the same order"
        )
    signers = []
    for index, path in enumerate(keyfiles):
        keyfile = read_key_file(path)
        passphrase = None
        if keyfile.encrypted:
            if index < len(passphrase_files):
                passphrase = read_passphrase_file(passphrase_files[index])
            else:
                passphrase = prompt_passphrase(f"Passphrase for {path} ({keyfile.person_id})")
        signers.append(keyfile.unlock(passphrase))
    return signers


RECEIPT_KEY = "custody.receipt"


def _remember_receipt(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.meta[RECEIPT_KEY] = Path(value)


def receipt_option(func: Any) -> Any:
    """--receipt FILE on a recording command: write the new event's tlog-proof receipt there
    (read back by the append hook, ``cli.log.after_append``, so callbacks keep their
    signatures)."""
    return click.option(
        "--receipt", metavar="FILE", expose_value=False, callback=_remember_receipt,
        type=click.Path(dir_okay=False),
        help="Write the event's receipt (c2sp.org/tlog-proof) to FILE; several events go to "
             "FILE, FILE.2, FILE.3 ... Needs a checkpoint covering the event: set "
             "CUSTODY_LOG_KEY to the log key file to sign one.")(func)
