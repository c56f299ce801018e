"""Map the ledger's error tree to one-line messages and exit codes. No tracebacks for users."""

from __future__ import annotations

import re

import click

from cli.i18n import _, is_translated, translated
from cli.render import visible
from ledger.core.text import Message
from ledger.core.errors import (
    ConcurrentChange,
    InputError,
    KeyringError,
    LedgerError,
    PolicyViolation,
    ResourceError,
    StorageError,
    VerificationFailed,
)

# Exit codes, documented in `custody --help` and the README.
EXIT_FINDINGS = 1  # verify found errors; a signature or hash did not verify
EXIT_USAGE = 2  # bad input: a missing or malformed option, file or field; or I/O trouble
EXIT_REFUSED = 3  # the step breaks a rule; nothing was written
EXIT_KEY = 4  # key file missing or wrong passphrase
EXIT_STORAGE = 5  # database missing, unreadable or not a ledger
EXIT_CONFLICT = 6  # another writer changed the same stream first

_CODES: list[tuple[type[LedgerError], int]] = [
    (ConcurrentChange, EXIT_CONFLICT),
    (PolicyViolation, EXIT_REFUSED),
    (KeyringError, EXIT_KEY),
    (StorageError, EXIT_STORAGE),
    (InputError, EXIT_USAGE),
    (ResourceError, EXIT_USAGE),
    (VerificationFailed, EXIT_FINDINGS),
]


class LedgerFailure(click.ClickException):
    """A LedgerError on its way to the terminal: 'error: <one line>' and its exit code."""

    def __init__(self, error: LedgerError) -> None:
        # Escaped first: a value the message quotes (from the ledger or argv) may hold a
        # newline or an escape sequence; escaped, it can neither start a line nor act.
        text = error.args[0] if len(error.args) == 1 and isinstance(
            error.args[0], Message) else str(error)
        super().__init__(re.sub(" {2,}", " ", visible(translated(text))).strip())
        self.exit_code = next((code for cls, code in _CODES if isinstance(error, cls)), 2)
        self.in_language = is_translated(text)  # else the whole line stays English

    def show(self, file=None) -> None:  # type: ignore[no-untyped-def]
        line = _("error: {message}") if self.in_language else "error: {message}"
        click.echo(line.format(message=self.message), err=True)
