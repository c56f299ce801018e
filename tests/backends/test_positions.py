"""Where a row is stored in the log: every row is read, on SQLite and on PostgreSQL."""

from __future__ import annotations

from ledger.application.custody import open_ledger
from ledger.core.findings import Severity
from ledger.verify import Verifier
from tests.conftest import World


def test_a_step_moved_to_position_0_is_an_error_on_every_backend(day: World, raw) -> None:
    """PostgreSQL's sequence may skip numbers, so a skip is only a warning there; but no store
    numbers a row 0 or below, so that is an error on both."""
    last = raw.positions()[-1]
    raw._query(f"UPDATE {raw.table} SET {raw.position_column} = 0 "
               f"WHERE {raw.position_column} = ? RETURNING 1", (last,))
    reader = open_ledger(day.db, read_only=True)
    try:
        report = Verifier(reader.recorder).run()
    finally:
        reader.close()

    assert report.events == 17
    gap = report.findings[0]
    assert (gap.code, gap.severity, gap.position) == ("POSITION_GAP", Severity.ERROR, 0)
    assert gap.evidence == {"expected": 1, "found": 0}
    assert not report.intact
