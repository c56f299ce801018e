"""The exam-season generator (``bench/season.py``): its ledgers verify with exactly the
findings it injected, are the same whatever the number of worker processes, and hold, byte
for byte, the rows the application itself records for the same steps."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
from ledger.core import canonical
from ledger.core.keys import PublicKey
from ledger.core.policy import PresencePolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import season  # noqa: E402

EVERY_KIND = {"incident": 0.05, "correction": 0.02, "acknowledged": 0.03, "duty_gap": 0.15,
              "conflict": 0.02}


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT rowid, originator_id, originator_version, topic, "
                                  "state FROM stored_events ORDER BY rowid").fetchall()


def verify_json(db: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["--db", str(db), "verify", "--json", "--workers", "1"])
    return result.exit_code, json.loads(result.output)


def test_a_county_season_verifies_with_exactly_the_findings_it_injected(tmp_path: Path) -> None:
    """County scale (1,000 candidates, ~3,500 events) with every kind of injection frequent
    enough to occur: verify reports each injected finding, at its position and stream with
    its evidence, and nothing else."""
    db = tmp_path / "county.db"
    generated = season.generate(db, 1000, rates=EVERY_KIND)
    assert generated.events == len(rows(db)) > 3000
    expected = generated.expected
    assert {f["code"] for f in expected} == {"ACKNOWLEDGED_VIOLATION", "CORRECTION",
                                             "DUTY_UNCOVERED", "PRESENCE_CONFLICT"}
    exit_code, report = verify_json(db)
    assert exit_code != 0 and not report["intact"]  # the duty gaps are errors
    assert report["events"] == generated.events
    found = report["findings"]
    assert Counter((f["code"], f["position"], f["stream"]) for f in found) == Counter(
        (f["code"], f["position"], f["stream"]) for f in expected)
    for want in expected:  # the evidence the generator names, as verify reports it
        (got,) = [f for f in found if (f["code"], f["position"], f["stream"]) == (
            want["code"], want["position"], want["stream"])
            and all(f["evidence"].get(k) == v for k, v in want.get("evidence", {}).items())]
        assert got["severity"] == ("error" if want["code"] == "DUTY_UNCOVERED" else "warning")


def test_a_season_without_injections_verifies_intact(tmp_path: Path) -> None:
    db = tmp_path / "quiet.db"
    generated = season.generate(db, 400, county_size=200, rates=dict.fromkeys(season.RATES, 0))
    assert generated.expected == [] and generated.counties == 2
    exit_code, report = verify_json(db)
    assert (exit_code, report["intact"], report["findings"]) == (0, True, [])
    assert report["events"] == generated.events


def test_a_season_is_the_same_ledger_whatever_the_number_of_workers(tmp_path: Path) -> None:
    one = season.generate(tmp_path / "one.db", 500, county_size=100, rates=EVERY_KIND)
    two = season.generate(tmp_path / "two.db", 500, county_size=100, rates=EVERY_KIND,
                          workers=2)
    assert rows(tmp_path / "one.db") == rows(tmp_path / "two.db")
    assert one.expected == two.expected and one.expected
    other = season.generate(tmp_path / "other.db", 500, county_size=100, rates=EVERY_KIND,
                            seed=7)
    assert other.expected != one.expected  # the seed draws where injections fall


def test_season_steps_are_stored_byte_for_byte_as_the_application_records_them(
        tmp_path: Path) -> None:
    """The rows of a small season (one exam room, every injection at every chance), up to
    the first of every kind of step it takes, recorded again through the application's own
    commands with the same keys and clock, are the same rows."""
    generated_db = tmp_path / "generated.db"
    season.generate(generated_db, 30, rates=dict.fromkeys(season.RATES, 1.0))
    kinds = {"ledger.genesis", "person.enrolled", "site.registered", "room.registered", "lot.registered",
             "lot.packed", "lot.transport_departed", "lot.transport_arrived", "lot.stored",
             "duty.started", "duty.ended", "room.patrolled", "zero.reported", "lot.retrieved",
             "lot.unpacked", "lot.distributed", "lot.corrected", "lot.unsealed",
             "incident.reported", "lot.collected", "lot.returned"}
    generated, seen = [], set()
    for row in rows(generated_db):
        generated.append(row)
        seen.add(canonical.decode(row[-1])["body"]["type"])
        if seen == kinds:
            break
    assert seen == kinds

    recorded_at: list[datetime] = []
    app = open_ledger(str(tmp_path / "recorded.db"), create=True,
                      clock=lambda: recorded_at[-1])
    signer = lambda person: Signer(person, season.person_key(person))  # noqa: E731
    try:
        for *_, state in generated:
            record = canonical.decode(state)
            body, signatures = record["body"], record["signatures"]
            recorded_at.append(record["timestamp"])
            at = canonical.parse_timestamp(body["occurred_at"])
            authority = signer(season.AUTHORITY)
            if body["type"] == "ledger.genesis":
                app.init(body["ledger"], {k: body["authority"][k] for k in ("id", "name", "unit")},
                         authority, PresencePolicy.from_data(body["policy"]), at)
            elif body["type"] == "person.enrolled":
                person = body["person"]
                app.enrol({k: person[k] for k in ("id", "name", "role", "unit")},
                          PublicKey.from_hex(person["public_key"]), authority, at)
            elif body["type"] == "site.registered":
                app.register_site(body["site"], authority, at)
            elif body["type"] == "room.registered":
                app.register_room(body["room"], authority, at)
            else:
                envelope = {"ledger", "stream", "seq", "type", "schema", "occurred_at", "prev",
                            "location", "attendees", "policy", "acknowledged_violation",
                            "place"}
                fields = {k: v for k, v in body.items() if k not in envelope}
                ack = body.get("acknowledged_violation", {}).get("reason")
                app.record_step(body["stream"], body["type"], fields, body["location"], at,
                                [signer(p) for p in signatures], acknowledge=ack,
                                place=body.get("place"))
    finally:
        app.close()
    assert rows(tmp_path / "recorded.db") == generated


@pytest.mark.parametrize("size", [0, 1441])
def test_a_county_size_the_exam_morning_cannot_serve_is_refused(size: int) -> None:
    with pytest.raises(SystemExit, match="--county-size must be 1 to 1440"):
        season.counties(1000, size)


def test_status_at_a_past_time_agrees_with_a_full_verification_of_the_season(
        tmp_path: Path) -> None:
    """Where every lot was at a past time, answered from the view (each lot's last step at or
    before it, and the findings its steps carried), is what a full verification to that time
    answers: lot by lot, holder, step and findings, on a season with injected findings."""
    db = tmp_path / "county.db"
    season.generate(db, 1000, rates=EVERY_KIND)
    runner = CliRunner()
    totals = []
    for when in ("2026-06-02T10:00:00+08:00",  # while the lots are being registered
                 "2026-06-06T12:00:00+08:00", "2026-06-09T12:00:00+08:00"):
        viewed = runner.invoke(main, ["--db", str(db), "status", "--as-of", when, "--json"])
        verified = runner.invoke(main, ["--db", str(db), "status", "--verified", "--workers",
                                        "1", "--as-of", when, "--json"])
        assert viewed.exit_code == 0, viewed.output
        lots = json.loads(viewed.output)["lots"]
        assert lots == json.loads(verified.output)["lots"]
        assert [lot["lot"] for lot in lots] == sorted(lot["lot"] for lot in lots)
        totals.append((len(lots), sum(lot["findings"] for lot in lots)))
    assert 0 < totals[0][0] < totals[1][0] == totals[2][0]  # lots registered as it goes on
    assert totals[0][1] == 0 < totals[2][1]  # findings come with the later steps
