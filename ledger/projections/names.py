"""The ids the view knows, for the commands that answer from it (``ledger.core.names``).

Each ``known`` is a point read on an indexed column, or a scan that stops at the first
match; ``every`` (the candidates for a suggestion) is read only when an id is unknown.
The roster is decoded from the view's saved fold state only for someone it cannot find
otherwise (the genesis authority, who is in no person's stream).
"""

from __future__ import annotations

from typing import Any

from ledger.projections import queries
from ledger.projections.view import ViewStore

# A holder is a person (a bare id) or a party with one of these prefixes.
PARTY_PREFIXES = ("room:", "site:", "vehicle:")


class ViewNames:
    """The ledger's ids as the view holds them."""

    def __init__(self, view: ViewStore) -> None:
        self.view = view

    def _any(self, statement: str, *params: Any) -> bool:
        return bool(self.view.query(statement, list(params)))

    def _column(self, statement: str, *params: Any) -> list[str]:
        return [row[0] for row in self.view.query(statement, list(params))
                if isinstance(row[0], str)]

    def known(self, kind: str, name: str) -> bool:
        """Whether the view holds ``name`` as a ``kind`` (lot, exam, room, person, holder)."""
        if kind == "lot":
            return self._any("SELECT 1 FROM view_steps WHERE stream = ? LIMIT 1", f"lot:{name}")
        if kind == "exam":
            return self._any("SELECT 1 FROM view_lots WHERE exam = ? LIMIT 1", name)
        if kind == "room":
            return self._any("SELECT 1 FROM view_rooms WHERE room = ?", name)
        if kind == "person":
            return (self._any("SELECT 1 FROM view_people WHERE person = ? LIMIT 1", name)
                    or self._any("SELECT 1 FROM view_attendee_names WHERE person = ? LIMIT 1",
                                 name)
                    or bool(queries.enrolled(self.view, name)))
        if kind == "holder":
            if name.startswith("room:"):
                return self.known("room", name[len("room:"):])
            if not name.startswith(PARTY_PREFIXES):
                return self.known("person", name)
            return (self._any("SELECT 1 FROM view_lots WHERE holder = ? LIMIT 1", name)
                    or self._any("SELECT 1 FROM view_steps WHERE to_party = ? OR from_party = ? "
                                 "LIMIT 1", name, name))
        raise KeyError(kind)

    def every(self, kind: str) -> list[str]:
        """Every id of ``kind`` the view holds (the candidates for a suggestion)."""
        if kind == "lot":
            return self._column("SELECT lot FROM view_lots")
        if kind == "exam":
            return self._column("SELECT DISTINCT exam FROM view_lots")
        if kind == "room":
            return self._column("SELECT room FROM view_rooms")
        if kind == "person":
            return sorted(set(queries.enrolled(self.view))
                          | set(self._column("SELECT DISTINCT person FROM view_attendee_names")))
        if kind == "holder":
            parties = set(self._column("SELECT DISTINCT holder FROM view_lots"))
            parties |= set(self._column("SELECT DISTINCT to_party FROM view_steps"))
            parties |= {f"room:{room}" for room in self.every("room")}
            return sorted(parties | set(self.every("person")))
        raise KeyError(kind)
