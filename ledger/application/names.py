"""The ids the log holds, for commands that do not answer from the view (``ledger.core.names``):
every recording command, ``verify --lot``, ``export``.

Whether an id is known is a point read (does its stream hold a row?); the candidates for a
suggestion are the ids of every stream of that kind, read from the index of the log's
table only when an id is unknown.
"""

from __future__ import annotations

from typing import Any, Iterable

from ledger.application.faults import storage_errors
from ledger.core.errors import InputError
from ledger.core.names import unknown
from ledger.domain.aggregates import lot_stream, person_stream, room_stream
from ledger.domain.stored import prepare

STREAMS = {"lot": lot_stream, "room": room_stream, "person": person_stream}
PARTY_PREFIXES = ("site:", "vehicle:")  # parties the ledger does not register (yet)


class LogNames:
    """The ledger's ids as its log holds them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def known(self, kind: str, name: str) -> bool:
        """Whether the log holds ``name`` as a ``kind`` (lot, room, person, holder, exam)."""
        if kind in ("lot", "room"):
            return self.app.has_stream(STREAMS[kind](name))
        if kind == "person":  # an authority the genesis named has no stream of their own
            return (self.app.has_stream(person_stream(name))
                    or self.app.member(name) is not None)
        if kind == "holder":
            if name.startswith(PARTY_PREFIXES):
                return True
            if name.startswith("room:"):
                return self.known("room", name[len("room:"):])
            return self.known("person", name)
        if kind == "exam":
            return bool(lots_of_exam(self.app, name))
        raise KeyError(kind)

    def every(self, kind: str) -> list[str]:
        """Every id of ``kind`` in the log (the candidates for a suggestion)."""
        if kind in STREAMS:
            prefix = STREAMS[kind]("")
            ids = [stream[len(prefix):] for stream in self._stream_ids(prefix)]
            if kind == "person":
                ids += list(self.app.ledger().authorities.members)
            return sorted(set(ids))
        if kind == "holder":
            return self.every("person") + [f"room:{room}" for room in self.every("room")]
        if kind == "exam":
            return sorted(exams(self.app))
        raise KeyError(kind)

    def _stream_ids(self, prefix: str) -> list[str]:
        with storage_errors(self.app.backend, f"cannot read {self.app.backend.label}"):
            return self.app.recorder.stream_ids(prefix)


def unknown_in_log(app: Any, kind: str, name: str, option: str | None = None) -> InputError:
    """The usage error for a ``kind`` of id the log does not hold, with the closest it does
    (a kind that is no id of the command line keeps a plain message)."""
    if kind not in ("lot", "room", "person"):
        return InputError(f"unknown {kind} {name}")
    return unknown(kind, name, LogNames(app).every(kind), option)


def registrations(app: Any) -> Iterable[dict[str, Any]]:
    """The ``lot`` part of every lot's registration (each lot's first step)."""
    with storage_errors(app.backend, f"cannot read the lots from {app.backend.label}"):
        rows = app.recorder.select_kind("lot:")
    for row in rows:
        if row[2] != 1:
            continue  # only a registration (step 1) names the exam
        body = prepare(row).body
        if body is not None and body["type"] == "lot.registered":
            yield body["lot"]


def lots_of_exam(app: Any, exam: str) -> list[str]:
    """The ids of the lots registered for ``exam`` (reads every lot's registration)."""
    return sorted({lot["id"] for lot in registrations(app) if lot["exam"] == exam})


def exams(app: Any) -> set[str]:
    """Every exam a lot is registered for."""
    return {lot["exam"] for lot in registrations(app)}


def require_lots_of_exam(app: Any, exam: str, option: str | None = None) -> list[str]:
    """The lots of ``exam``, or the usage error naming the exams the ledger has."""
    lots = lots_of_exam(app, exam)
    if not lots:
        raise unknown("exam", exam, exams(app), option)
    return lots
