"""The log audit of a long verification runs in a helper process (``log_helper``): it is
used when it should be, gives what the audit in process gives, and a helper that stops ends
the run with the one error a lost worker gives."""

from __future__ import annotations

import os
import signal
import sqlite3
from contextlib import closing

import pytest

import ledger.verify.verifier as verifier_module
from ledger.core.errors import ResourceError
from ledger.verify.log_helper import LogHelper
from tests.backends.verifying import counted_helpers, opened
from tests.conftest import World


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[LogHelper]:
    """The log helpers a run makes, each counting the pages handed to it."""
    return counted_helpers(monkeypatch, "LogHelper", "add_page")


def run(db: str, **options):
    with opened(db, **options) as verifier:
        return verifier.run(), verifier.reached()


def closed(day: World) -> str:
    day.app.close()
    return str(day.db)


def test_a_long_run_with_workers_audits_the_log_in_its_helper(day: World, counted) -> None:
    db = closed(day)
    with closing(sqlite3.connect(db)) as c:
        (rows,), = c.execute("SELECT COUNT(*) FROM stored_events").fetchall()
    report, reached = run(db, workers=2, page_size=3, helper_from=0)
    (helper,) = counted
    assert helper.pages == -(-rows // 3)
    alone, alone_reached = run(db)
    assert report.intact and report.findings == alone.findings == []
    assert (reached.tree_size, reached.root, reached.frontier.size) == (
        alone_reached.tree_size, alone_reached.root, alone_reached.frontier.size) != (0, b"", 0)
    assert reached.tree_size == rows


def test_the_helper_finds_a_changed_stored_hash_as_the_audit_in_process_does(
        day: World, counted) -> None:
    db = closed(day)
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("UPDATE tree_hashes SET hash = ? WHERE idx = 4", (b"\x09" * 32,))
    helped, _ = run(db, workers=2, page_size=4, helper_from=0)
    assert len(counted) == 1
    alone, _ = run(db)
    assert [f.code for f in helped.findings] == ["ROOT_MISMATCH"]
    assert helped.findings == alone.findings
    assert helped.findings[0].evidence["index"] == 4


@pytest.mark.parametrize("options", [{"workers": 2}, {"workers": 1, "helper_from": 0}],
                         ids=["a short log", "no workers"])
def test_a_short_log_or_a_run_without_workers_audits_in_process(day: World, counted,
                                                                 options) -> None:
    report, _ = run(closed(day), page_size=3, **options)
    assert report.intact and counted == []


def test_a_helper_that_stops_ends_the_run_with_a_resource_error(day: World,
                                                                monkeypatch) -> None:
    class Killed(LogHelper):
        def add_page(self, *args, **kwargs) -> None:
            super().add_page(*args, **kwargs)
            for process in list(self._pool._processes.values()):
                os.kill(process.pid, signal.SIGKILL)
                process.join()

    monkeypatch.setattr(verifier_module, "LogHelper", Killed)
    with pytest.raises(ResourceError, match="verification worker process stopped"):
        run(closed(day), workers=2, page_size=3, helper_from=0)
