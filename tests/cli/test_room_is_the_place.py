"""A step in a secure room takes place there: `duty start` and `record store` (and `duty end`,
`record retrieve`, and their drafts) need no --location; the room's registered name is stored
as the step's location. They used to ask for --location, and store for both."""

from __future__ import annotations

import json

from tests.cli.test_unknown_ids import ROOM
from tests.conftest import TEAM


def test_duty_start_without_location_records_it_in_the_room(ready):
    ready.ok(*ROOM, *ready.authority())
    ready.ok("duty", "start", "--room", "SR-3", "--occurred-at", "2026-06-06T05:00:00+08:00",
             *ready.signing(*TEAM))
    steps = json.loads(ready.ok("presence", "--room", "SR-3", "--json").output)["steps"]
    assert [(s["type"], s["location"]) for s in steps] == [
        ("duty.started", "County Secure Room 3")]


def test_record_store_with_the_room_only_records_the_rooms_name(ready):
    ready.ok(*ROOM, *ready.authority())
    ready.ok("record", "store", "--lot", "LOT-1", "--from", "STF-01", "--room", "SR-3",
             "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30",
             "--occurred-at", "2026-06-06T05:40:00+08:00", *ready.signing(*TEAM))
    (lot,) = json.loads(ready.ok("status", "LOT-1", "--json").output)["lots"]
    assert (lot["holder"], lot["location"]) == ("room:SR-3", "County Secure Room 3")


def test_a_draft_in_a_room_takes_the_rooms_name_too(ready, tmp_path):
    ready.ok(*ROOM, *ready.authority())
    out = tmp_path / "duty.draft"
    ready.ok("draft", "duty-start", "--room", "SR-3", "--attendee", "POL-01", "--out", str(out),
             "--occurred-at", "2026-06-06T05:00:00+08:00")
    assert json.loads(out.read_text())["body"]["location"] == "County Secure Room 3"


def test_a_step_elsewhere_still_needs_its_location(ready):
    result = ready("record", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02",
                   "--seal", "SEAL-1", "--count", "30", *ready.signing(*TEAM))
    assert result.exit_code == 2 and "Missing option '--location'" in result.output
