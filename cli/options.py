"""Shared option parsing: times, passphrases and key files, each with a one-line error."""

from __future__ import annotations

import os
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Sequence

import click

from cli.i18n import _
from ledger.core.errors import InputError, KeyringError, LedgerError
from ledger.core.text import Message
from ledger.domain.definitions import plainly_valid

if TYPE_CHECKING:
    from ledger.application.keystore import Signer

# Keys, canonical times and jsonschema are imported where they are used: a read command
# that needs none of them starts without paying for them (tests/cli/test_startup.py).


class Checked(click.ParamType):
    """A string option or argument checked against a definition of ``schemas/common.json``
    (``id``, ``party``, ``text``, ``note``, ``hash``): the same rule as the event field it
    fills, refused as one line naming the option, before any key is unlocked."""

    def __init__(self, kind: str, metavar: str) -> None:
        self.kind = kind
        self.name = metavar

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if plainly_valid(self.kind, value):
            return value
        from ledger.domain.schemas import value_problem

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


def occurred_at(value: str | None, clock) -> datetime:  # type: ignore[no-untyped-def]
    """Parse --occurred-at (RFC 3339 with offset); default: now."""
    if value is None:
        return clock()
    from ledger.core.canonical import parse_rfc3339

    try:
        return parse_rfc3339(value)
    except InputError as exc:
        raise InputError(f"--occurred-at: {exc}") from None


def moment(value: str, option: str) -> str:
    """A time given to ``option`` (RFC 3339 with offset) in the ledger's canonical form."""
    from ledger.core.canonical import format_timestamp, parse_rfc3339

    try:
        return format_timestamp(parse_rfc3339(value))
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None


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
    from ledger.core.keys import MAX_PASSPHRASE

    data = read_bounded(path, MAX_PASSPHRASE + 2, "passphrase file", KeyringError)
    refuse_key_as_passphrase(path, data)
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o044:
        click.echo(_("warning: passphrase file {path} is readable by group or others (mode "
                     "{mode}); run: chmod 600 {path}").format(
                         path=path, mode=f"{stat.S_IMODE(mode):o}"), err=True)
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise KeyringError(f"passphrase file {path} is empty")
    return line


def refuse_key_as_passphrase(path: Path, data: bytes) -> None:
    """A key file given as a passphrase file is named as such (its first line would be
    taken for the passphrase, and the key's own refusal would blame the passphrase)."""
    from ledger.application.keystore import file_kind

    kind = file_kind(data)
    if kind == "private key":
        raise KeyringError(Message(
            "{path} is a key file, not a passphrase file: give it as the key, and the file "
            "holding its passphrase with --passphrase-file", path=path))
    if kind == "public key":
        raise KeyringError(Message("{path} is a public key file, not a passphrase file",
                                   path=path))


def prompt_passphrase(prompt: str, *, confirm: bool = False,
                      avoid: str = "--passphrase-file FILE") -> bytes:
    """Prompt hidden (twice when ``confirm``); the passphrase never echoes nor logs. With no
    terminal to ask on, one error line names ``avoid``, what gives it without a prompt."""
    if not terminal(hidden=True):
        raise KeyringError(Message("no terminal to ask '{prompt}': give {avoid} (its first "
                                   "line is the passphrase)", prompt=prompt, avoid=avoid))
    try:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm,
                             err=True, show_default=False)
    except click.Abort:
        raise KeyringError(Message("no passphrase given at the prompt '{prompt}': type it, or "
                                   "give {avoid} for scripted use", prompt=prompt,
                                   avoid=avoid)) from None
    return value.encode("utf-8")


def unlock_key(path: Path, passphrase_file: Path | None, prompt: str,
               avoid: str = "--passphrase-file FILE") -> Signer:
    """One key file unlocked: its passphrase from ``passphrase_file``, else prompted hidden
    (``prompt``; ``avoid``: what gives it without a prompt)."""
    from ledger.application.keystore import read_key_file

    keyfile = read_key_file(path)
    passphrase = None
    if keyfile.encrypted:
        passphrase = (read_passphrase_file(passphrase_file) if passphrase_file
                      else prompt_passphrase(prompt, avoid=avoid))
    return keyfile.unlock(passphrase)


def confirm(question: str, avoid: str) -> bool:
    """Ask ``question`` (y/n) on the terminal; with none, or no answer, one error line names
    ``avoid``, the option that answers yes without asking."""
    if not terminal(hidden=False):
        raise InputError(Message("no terminal to ask '{question}': give {avoid} to answer yes",
                                 question=question, avoid=avoid))
    try:
        return click.confirm(question, err=True)
    except click.Abort:
        click.echo(err=True)  # the error on a line of its own, not after the question
        raise InputError(Message("no answer to '{question}': answer y or n, or give {avoid}",
                                 question=question, avoid=avoid)) from None


def terminal(*, hidden: bool) -> bool:
    """Whether a prompt can reach a person. A hidden prompt (getpass) reads the controlling
    terminal, else a terminal on stdin; a visible one (y/n) reads stdin. Without either,
    Python's getpass would print a warning and read the passphrase off stdin, and click
    would end in a bare "Aborted!". click's test runner, which types for a test, replaces
    the prompt functions: that counts as a terminal."""
    from click import termui

    if hidden:
        if termui.hidden_prompt_func.__module__ != termui.__name__:
            return True
        try:
            os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
            return True
        except OSError:
            return _stdin_is_terminal()
    return termui.visible_prompt_func is not input or _stdin_is_terminal()


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def require_keys_of(keyfiles: Sequence[Path], allowed: Collection[str], whose: Message) -> None:
    """Each key file must be the key of someone in ``allowed`` (the authority set, a draft's
    attendees): a key of another person is named as such, from the file's header, before
    any passphrase is asked for."""
    from ledger.application.keystore import read_key_file

    for path in keyfiles:
        person = read_key_file(path).person_id
        if person not in allowed:
            raise KeyringError(Message("{path} is the key of {person}, who is not {whose} "
                                       "({allowed})", path=path, person=person, whose=whose,
                                       allowed=", ".join(sorted(allowed))))


def unlock_signers(keyfiles: Sequence[Path], passphrase_files: Sequence[Path]) -> list[Signer]:
    """Load every --sign key; passphrases from --passphrase-file in order, else prompted."""
    if len(passphrase_files) > len(keyfiles):
        raise InputError(
            f"{len(passphrase_files)} --passphrase-file for {len(keyfiles)} --sign key(s); "
            "give at most one per key, in the same order"
        )
    from ledger.application.keystore import read_key_file

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
LOG_KEY_ENV = "CUSTODY_LOG_KEY"  # the log key file every append signs a checkpoint with


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
