"""Ids named on the command line: one rule for an id that names nothing in the ledger.

A lot, exam, secure room, person or holder that is not in the ledger is a usage error, never
an empty answer: ``presence --room SR3`` must not print "0 steps" when the room is ``SR-3``.
The error names the closest ids the ledger does hold ("unknown lot MATH-Q-001; did you mean
MATH-Q-0001?"), so a typo points the right way instead of inviting a second registration.

Where the ids come from is the caller's: the view for the commands that answer from it
(``ledger.projections.names``), the log for the others (``ledger.application.names``). Only
``lot register``, ``person enrol`` and ``room register`` create ids.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Protocol

from ledger.core.errors import InputError
from ledger.core.text import Message, either

# What each kind of id is called in a message (translatable: Babel extracts Message).
KINDS = {
    "lot": Message("lot"),
    "exam": Message("exam"),
    "room": Message("secure room"),
    "person": Message("person"),
    "holder": Message("holder"),
}
# Said when no id is close enough to suggest: where to look, or what creates one.
HINTS = {
    "lot": Message("'custody status' lists the lots"),
    "exam": Message("'custody status' lists the lots with their exams"),
    "room": Message("'custody room register' registers one"),
    "person": Message("'custody person enrol' enrols one"),
    "holder": Message("a holder is a person id, room:ID, site:ID or vehicle:ID"),
}
SUGGESTED = 3  # at most this many ids are suggested
SIMILAR = 0.6  # difflib's ratio an id must reach to be suggested (its own default)


class Names(Protocol):
    """Where a command looks ids up: whether one is known, and every id of a kind."""

    def known(self, kind: str, name: str) -> bool: ...

    def every(self, kind: str) -> Iterable[str]: ...


def closest(name: str, candidates: Iterable[str]) -> list[str]:
    """The candidates most like ``name``, best first: one that is ``name`` under another
    prefix (``room:SR-3`` for ``SR-3``) before all others, then difflib's closest matches,
    ignoring case (``math-q-0001`` is ``MATH-Q-0001``)."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    wanted = name.lower()
    same = [c for lower, c in sorted(by_lower.items())
            if lower != wanted and lower.split(":", 1)[-1] == wanted.split(":", 1)[-1]]
    similar = difflib.get_close_matches(wanted, list(by_lower), n=SUGGESTED, cutoff=SIMILAR)
    found = same + [by_lower[lower] for lower in similar if by_lower[lower] not in same]
    return found[:SUGGESTED]


def unknown(kind: str, name: str, candidates: Iterable[str],
            option: str | None = None) -> InputError:
    """The usage error for ``name``, a ``kind`` of id the ledger does not hold: the closest
    ``candidates`` suggested, or a hint where to look; ``option`` names where it was given."""
    where = f"{name} ({option})" if option else name
    # A holder given as a bare id is a person's: say so (its candidates stay every holder).
    word = KINDS["person" if kind == "holder" and ":" not in name else kind]
    suggestions = closest(name, candidates)
    if suggestions:
        return InputError(Message("unknown {kind} {name}; did you mean {ids}?",
                                  kind=word, name=where, ids=either(suggestions)))
    return InputError(Message("unknown {kind} {name}; {hint}", kind=word, name=where,
                              hint=HINTS[kind]))


def require_known(names: Names, kind: str, name: str, option: str | None = None) -> None:
    """Raise ``unknown(...)`` unless ``names`` knows ``name`` as a ``kind``."""
    if not names.known(kind, name):
        raise unknown(kind, name, names.every(kind), option)
