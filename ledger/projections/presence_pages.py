"""Impossible presence of a view's rebuild, judged by its page writer.

A long fold into an empty view (a rebuild, a fresh copy's first read) is bound by the folding
process; its page writer (``writer.PageWriter``) has CPU to spare. Nothing else in the fold
reads where each signer was (``ledger.core.presence_notes``), so the fold only notes the steps
and registrations (``PresenceNotes``) and hands each page's notes to the writer with the page.
:class:`PresencePages`, in the writer's process, judges them with the real ``Presence`` and,
before the page is written, puts in what its findings change:

- each such step's finding codes and count (``view_steps``), and its ``view_findings`` rows,
  after the step's other findings (presence is judged last in a step);
- the view's count of warnings (and of errors, should presence ever find one);
- everyone's whereabouts in the saved fold, which the writer keeps;
- the lots' finding counts (``view_lots`` and the saved fold's ``flags``), which the writer
  keeps too: the folding process, which does not know a step's presence findings, leaves them.

The view is row for row the one a fold judging presence itself writes
(``tests/backends/test_projections.py``). Once the fold reaches the head it reads the
whereabouts and the counts back from the view (``CustodyProjection.write_with``).
"""

from __future__ import annotations

import json
from typing import Any

from ledger.core.findings import Severity
from ledger.core.presence_notes import Item, judge_notes
from ledger.core.whereabouts import Presence
from ledger.projections import codec
from ledger.projections.projection import FoldMap, finding_rows, lot_counts
from ledger.projections.view import Batch, ViewStore
from ledger.storage.memory import available_memory, resident_for

# Columns of a view_steps row: its position, stream, finding codes (JSON) and their count,
# and, for a lot step, the lot's id; of a view_lots row, its three finding counts.
POSITION, STREAM, CODES, COUNT, LOT = 0, 1, 12, 13, 15
LOT_COUNTS = slice(15, 18)


class PresencePages:
    """The presence judge of a rebuild's page writer, from an empty view (see the module)."""

    def __init__(self, view: ViewStore) -> None:
        keep = resident_for(available_memory())
        self.whereabouts = FoldMap(view, "whereabouts", keep=keep, fresh=True)
        self.counts = FoldMap(view, codec.FLAGS, keep=keep, fresh=True)
        self.presence = Presence(self.whereabouts, {}, {})
        self.errors = self.warnings = 0

    def patch(self, batch: Batch, notes: list[Item], meta: dict[str, int]) -> dict[str, int]:
        """Judge a page's ``notes`` and put into ``batch`` (unpacked: each row a list) what
        they change; the page's counts (``meta``) with the presence findings so far added."""
        found = judge_notes(self.presence, notes)
        steps = batch.inserts.get("view_steps", [])
        if found:
            at = {row[POSITION]: row for row in steps}
            for position, findings in found.items():
                row = at[position]
                batch.inserted("view_findings").extend(
                    finding_rows(position, row[STREAM], findings, first=row[COUNT]))
                codes = [*json.loads(row[CODES]), *(f.code for f in findings)]
                row[CODES], row[COUNT] = json.dumps(codes), len(codes)
                self.errors += sum(f.severity is Severity.ERROR for f in findings)
                self.warnings += sum(f.severity is Severity.WARNING for f in findings)
        lots: dict[str, Any] = {}
        for row in steps:
            if row[LOT] is None:
                continue
            counts = self.counts.get(row[STREAM], (0, 0, 0))
            if row[COUNT]:
                counts = lot_counts(counts, json.loads(row[CODES]))
            self.counts[row[STREAM]] = lots[row[LOT]] = counts
        for lot, row in batch.upserts.get("view_lots", {}).items():
            row[LOT_COUNTS] = lots[lot]
        for fold in (self.whereabouts, self.counts):
            for key, value in fold.changes():
                batch.upsert("view_fold", (key, value))
        counted = dict(meta)
        counted["errors"] = counted.get("errors", 0) + self.errors
        counted["warnings"] = counted.get("warnings", 0) + self.warnings
        return counted
