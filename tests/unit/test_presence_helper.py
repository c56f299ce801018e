"""Impossible presence judged by a helper process (``ledger/verify/presence_helper.py``): on a
county season with presence conflicts and duty gaps, a long verification with workers reports
what one in process reports — every finding, in the same order, whole or for one lot from a
position on — and leaves the same whereabouts in its state; a helper that stops ends the run
with the error a lost worker gives."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

import pytest

import ledger.verify.verifier as verifier_module
from ledger.core.custody import RoomState
from ledger.core.errors import ResourceError
from ledger.core.places import SiteState
from ledger.core.whereabouts import Sighting, moment_of, whereabouts
from ledger.verify.presence_helper import PresenceFeed
from tests.backends.verifying import counted_helpers, opened

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import season  # noqa: E402

EVERY_KIND = {"incident": 0.05, "correction": 0.02, "acknowledged": 0.03, "duty_gap": 0.15,
              "conflict": 0.02}
HELPED = {"workers": 2, "page_size": 50, "helper_from": 0}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = tmp_path_factory.mktemp("county") / "county.db"
    season.generate(db, 1000, rates=EVERY_KIND)
    return str(db)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[PresenceFeed]:
    """The presence feeds a run makes, each counting the pages it hands over."""
    return counted_helpers(monkeypatch, "PresenceFeed", "hand_over")


def run(db: str, **options):
    with opened(db, **options) as verifier:
        report = verifier.run()
        return report, dict(verifier.state.whereabouts), dict(verifier.findings_by_stream)


def test_a_season_reports_the_same_with_presence_judged_by_the_helper(county: str,
                                                                       counted) -> None:
    alone, alone_whereabouts, alone_streams = run(county)
    helped, helped_whereabouts, helped_streams = run(county, **HELPED)
    (feed,) = counted
    assert feed.pages == -(-alone.events // 50)
    codes = [f.code for f in alone.findings]
    assert "PRESENCE_CONFLICT" in codes and "DUTY_UNCOVERED" in codes
    assert helped.findings == alone.findings
    assert (helped.events, helped.streams, helped.signatures) == (
        alone.events, alone.streams, alone.signatures)
    assert helped_streams == alone_streams
    assert helped_whereabouts == alone_whereabouts and len(alone_whereabouts) > 30


def test_one_lot_from_a_position_on_reports_the_same(county: str, counted) -> None:
    whole, _, _ = run(county)
    (conflict,) = [f for f in whole.findings if f.code == "PRESENCE_CONFLICT"
                   and f.stream.startswith("lot:")][:1]
    lot = conflict.stream.removeprefix("lot:")
    since = conflict.position - 20
    alone, _, _ = run(county, lot=lot, since=since)
    helped, _, _ = run(county, lot=lot, since=since, **HELPED)
    assert len(counted) == 1
    assert helped.findings == alone.findings
    assert conflict in alone.findings
    assert all(f.stream == conflict.stream for f in alone.findings
               if f.stream and f.stream.startswith("lot:"))  # no other lot reported


def test_the_helper_starts_from_the_whereabouts_it_is_given() -> None:
    """A resumed audit hands the helper the whereabouts of its saved state: a step at a place
    apart, within the window of a sighting from before, is a conflict."""
    rooms = {"R1": RoomState("R1", "Vault", "L-1", "2026-01-01", "2027-01-01", within=None)}
    sites = {"S1": SiteState("S1", "School")}
    before = Sighting(7, "lot:A", "lot.stored", "2026-06-07T08:00:00.000000Z", "Vault",
                      "room:R1", moment_of("2026-06-07T08:00:00.000000Z"))
    known = {"STF-01": whereabouts((before,), ())}
    feed = PresenceFeed(dict(known), dict(rooms), dict(sites))
    try:
        assert feed.step(["STF-01", "STF-02"], (
            9, "lot:B", "lot.distributed", "2026-06-07T08:05:00.000000Z", "Gate", "site:S1"),
            {"type": "lot.distributed"}, 10) == []
        (finding,) = feed.hand_over().result()[9]
        assert finding.code == "PRESENCE_CONFLICT"
        assert finding.evidence["person"] == "STF-01"
        assert finding.evidence["other"]["position"] == 7
        feed.finish()
        assert set(feed.whereabouts) == {"STF-01", "STF-02"}
        assert feed.whereabouts["STF-01"].sightings[-1].position == 9
    finally:
        feed.close()


def test_the_helper_judges_steps_and_registrations_in_the_order_folded() -> None:
    """A step at a site not yet registered names no place anyone can be apart from; once the
    site is registered (between two steps of one page), the next step there is apart from
    the room the person was just in."""
    rooms = {"R1": RoomState("R1", "Vault", "L-1", "2026-01-01", "2027-01-01", within=None)}
    before = Sighting(7, "lot:A", "lot.stored", "2026-06-07T08:00:00.000000Z", "Vault",
                      "room:R1", moment_of("2026-06-07T08:00:00.000000Z"))
    feed = PresenceFeed({"STF-01": whereabouts((before,), ())}, dict(rooms), {})
    try:
        step = {"type": "lot.distributed"}
        feed.step(["STF-01"], (8, "lot:B", "lot.distributed", "2026-06-07T08:05:00.000000Z",
                               "Gate", "site:S2"), step, 10)
        feed.site(SiteState("S2", "School"))
        feed.step(["STF-01"], (9, "lot:C", "lot.distributed", "2026-06-07T08:06:00.000000Z",
                               "Gate", "site:S2"), step, 10)
        found = feed.hand_over().result()
        assert list(found) == [9]
        assert found[9][0].evidence["other"]["position"] == 7
        assert feed.sites == {"S2": SiteState("S2", "School")}  # the fold's map, as it reads it
    finally:
        feed.close()


def test_a_presence_helper_that_stops_ends_the_run_with_a_resource_error(
        county: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Killed(PresenceFeed):
        def hand_over(self):
            judged = super().hand_over()
            for process in list(self._pool._processes.values()):
                os.kill(process.pid, signal.SIGKILL)
                process.join()
            return judged

    monkeypatch.setattr(verifier_module, "PresenceFeed", Killed)
    with pytest.raises(ResourceError, match="verification worker process stopped"):
        run(county, **HELPED)


def test_ctrl_c_reaches_the_verifying_process_alone(county: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C goes to the whole foreground process group; the workers and both helpers ignore
    it (the verifying process alone answers it, and stops them), so a SIGINT each of them
    receives mid-run changes nothing."""
    interrupted: list[int] = []

    class Interrupted(PresenceFeed):
        def hand_over(self):
            for child in multiprocessing.active_children():  # started as work comes
                if child.pid not in interrupted:
                    os.kill(child.pid, signal.SIGINT)
                    interrupted.append(child.pid)
            return super().hand_over()

    alone, _, _ = run(county)
    monkeypatch.setattr(verifier_module, "PresenceFeed", Interrupted)
    helped, _, _ = run(county, **HELPED)
    assert len(interrupted) == 4  # two workers, the log audit's helper, the presence helper
    assert helped.findings == alone.findings
