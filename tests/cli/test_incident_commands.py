"""``custody replay`` and ``custody timeline``: their help, their output on a small ledger, and
every bad input as one line and exit 2 with nothing written."""

from __future__ import annotations

import json

import pytest


def test_help_of_replay_and_timeline_shows_an_example(cli):
    for command in (["replay"], ["timeline"], ["timeline", "person"], ["timeline", "room"]):
        result = cli.ok(*command, "--help")
        assert "Example" in result.output, command
        assert f"custody {' '.join(command)} " in result.output, command


def test_replay_prints_one_line_per_step_and_the_position_it_reflects(ready):
    ready.ok(*ready.handover_args())
    result = ready.ok("replay", "--lot", "LOT-1")
    lines = result.stdout.splitlines()
    steps = [line for line in lines if not line.startswith(" " * 8)]
    assert len(steps) == 3  # registration, handover, summary
    assert "lot:LOT-1 step 1 lot.registered at Printing house; held by - -> STF-01; " \
           "presence met; no finding" in steps[0]
    assert "lot:LOT-1 step 2 lot.handed_over at Secure room 1; held by STF-01 -> STF-02; " \
           "presence met; seals ok; count ok; no finding" in steps[1]
    assert lines[1].startswith("        present: POL-01 (police), POL-02 (police)")
    assert steps[2].startswith("2 step(s), 0 with findings; as of log position ")


def test_timeline_of_a_person_lists_what_they_held_and_signed(ready):
    ready.ok(*ready.handover_args())
    data = json.loads(ready.ok("timeline", "person", "STF-02", "--json").stdout)
    assert [(e["type"], e["parts"]) for e in data["entries"]] == [
        ("lot.registered", ["present"]), ("lot.handed_over", ["present", "received"])]
    nobody = ready.ok("timeline", "person", "INS-01")
    assert nobody.stdout.splitlines()[-1].startswith("0 moment(s), 0 PRESENCE_CONFLICT; as of")


@pytest.mark.parametrize("args, message", [
    (["replay", "--lot", "LOT-9"], "error: unknown lot LOT-9"),
    (["replay", "--exam", "nope-2026"], "error: unknown exam nope-2026"),
    (["replay", "--room", "SR-9"], "error: unknown secure room SR-9"),
    (["replay", "--lot", "LOT-1", "--exam", "gaokao-2026"],
     "error: give one of --lot, --exam, --room (got --lot, --exam)"),
    (["replay", "--from", "2026-06-07T00:00:00+08:00", "--to", "2026-06-06T00:00:00+08:00"],
     "error: --from 2026-06-07T00:00:00+08:00 is after --to"),
    (["replay", "--from", "yesterday"], "error: --from: "),
    (["timeline", "person", "NOBODY"], "error: unknown person NOBODY"),
    (["timeline", "room", "SR-9"], "error: unknown secure room SR-9"),
    (["timeline", "person", "POL-01", "--to", "06:00"], "error: --to: "),
])
def test_a_bad_question_is_one_line_exit_2_and_writes_nothing(ready, args, message):
    ready.ok("status")  # the view is up to date: a read writes nothing from here on
    before = ready.db_digest()
    result = ready(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert ready.db_digest() == before
