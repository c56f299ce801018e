"""``verify --projections``: rebuild the view from the events, independently, and compare.

The stored view is read only here, after the verification proper, which never reads it.
The rebuild folds the log in a private in-memory view up to the stored view's position,
so a view that is merely behind is PROJECTION_BEHIND (a warning: the next read catches it
up), and any row that differs — a lot, a step, an attendee, the saved fold state — is
PROJECTION_MISMATCH, naming the first differing row of each table. Duty gaps, computed on
reading, are judged from both views at the same moment and compared too.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from ledger.core import canonical
from ledger.core.findings import Finding
from ledger.core.text import Message
from ledger.projections import queries
from ledger.projections.access import memory_view, stored_view
from ledger.projections.codec import ViewStateDamaged
from ledger.projections.projection import catch_up
from ledger.projections.view import COMPARED, TABLES

_WHAT = {"view_lots": Message("lot"), "view_steps": Message("step at position"),
         "view_attendees": Message("attendee at position"), "view_people": Message("person"),
         "view_names": Message("id of a person's or a role's name"),
         "view_rooms": Message("room"), "view_duty": Message("duty shift of room"),
         "view_occupancy": Message("room stay of lot"),
         "view_findings": Message("finding at position"),
         "view_fold": Message("saved fold state"), "view_meta": Message("view counter")}


def compare(app: Any) -> list[Finding]:
    """Findings on the stored view of ``app``'s ledger against one rebuilt from its events."""
    head = app.last_position()
    stored = stored_view(app)
    position = stored.position() if stored is not None else None
    if position is None:
        if not head:
            return []
        return [Finding("PROJECTION_BEHIND", Message(
            "no view is stored yet; the log's head is position {head} (any read command "
            "builds it)", head=head),
                        evidence={"view": None, "head": head})]
    rebuilt = memory_view()
    catch_up(rebuilt, app.recorder, until=position)
    findings = []
    if rebuilt.position() != position:
        findings.append(Finding("PROJECTION_MISMATCH", Message(
            "the view says it stands at position {position}, but the log has no event there",
            position=position),
                                evidence={"view": position, "rebuilt": rebuilt.position()}))
    for table in COMPARED:
        columns = [c.split()[0] for c in TABLES[table] if not c.startswith("PRIMARY")]
        for mine, theirs in zip_longest(stored.rows(table), rebuilt.rows(table)):
            if _same(mine, theirs):
                continue
            row = theirs if theirs is not None else mine
            key = (row[0] if table not in ("view_attendees", "view_duty", "view_findings")
                   else f"{row[0]}/{row[1]}")
            findings.append(Finding(
                "PROJECTION_MISMATCH",
                Message("{table}: {what} {key} differs from the view rebuilt from the events "
                        "(run 'custody projections rebuild')", table=table, what=_WHAT[table],
                        key=key),
                evidence={"table": table, "stored": _data(columns, mine),
                          "rebuilt": _data(columns, theirs)}))
            break
    # Duty gaps are computed on reading, from the view's duty shifts, room stays and saved
    # policies: judged from both views at the same moment, they must be the same gaps.
    end = canonical.format_timestamp(app.clock())
    findings += _gaps_differ(stored, rebuilt, end)
    if head is not None and position < head:
        findings.append(Finding("PROJECTION_BEHIND", Message(
            "the view stands at position {position}, the log's head at {head} (the next read "
            "catches it up)", position=position, head=head),
                                evidence={"view": position, "head": head}))
    return findings


def _gaps_differ(stored: Any, rebuilt: Any, end: str) -> list[Finding]:
    """The first duty gap the stored view shows otherwise than the rebuilt one, judged up to
    ``end``; none if the stored view's saved fold does not decode (its ``view_fold`` row
    differs from the rebuilt one's, and that is reported already)."""
    try:
        stored_gaps = [g.evidence for g in queries.duty_gaps(stored, end)]
    except ViewStateDamaged:
        return []
    rebuilt_gaps = [g.evidence for g in queries.duty_gaps(rebuilt, end)]
    for mine, theirs in zip_longest(stored_gaps, rebuilt_gaps):
        if mine != theirs:
            gap = theirs if theirs is not None else mine
            return [Finding(
                "PROJECTION_MISMATCH",
                Message("duty gaps: secure room {room}'s gap from {start} differs from the one "
                        "the view rebuilt from the events shows (run 'custody projections "
                        "rebuild')", room=gap["room"], start=gap["start"]),
                evidence={"table": "duty gaps", "stored": mine, "rebuilt": theirs})]
    return []


def _same(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    return a is not None and b is not None and tuple(map(str, a)) == tuple(map(str, b))


def _data(columns: list[str], row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {c: (v if isinstance(v, (int, str)) or v is None
                else bytes(v).hex() if isinstance(v, (bytes, memoryview)) else str(v))
            for c, v in zip(columns, row)}
