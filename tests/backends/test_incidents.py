"""An exam day with injected incidents, replayed after the fact, on SQLite and PostgreSQL.

The incidents: a bag whose seal number changes between two handovers (recorded with an
acknowledgement), a night with too few on duty, a bag distributed to the wrong exam site and
then corrected, and one officer co-signing at two sites twelve minutes apart (the policy's
presence window is 30 minutes). ``replay``, ``timeline person``, ``timeline room`` and
``verify`` must each show every incident at the right position or moment, and nothing else."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from importlib import resources

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from cli.main import main
from ledger.core import canonical
from ledger.core.policy import PresencePolicy
from tests.conftest import AUTHORITY

D = datetime(2026, 6, 6, 8, 0, tzinfo=timezone.utc)  # 16:00 in Beijing
PRINTING, NO1, NO2 = "Printing house", "No. 1 Middle School", "No. 2 Middle School"


def h(hours: float) -> datetime:
    return D + timedelta(hours=hours)


def shown(hours: float) -> str:
    """A time as the text output prints it: RFC 3339 with seconds and an offset, in the
    ledger's zone (its genesis names none: UTC)."""
    return h(hours).isoformat(timespec="seconds")


def ts(hours: float) -> str:
    return canonical.format_timestamp(h(hours))


GAP = (ts(12), ts(16))


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(
        resources.files("schemas").joinpath(f"{name}.schema.json").read_text()))


def incident_day(world) -> dict[str, int]:
    """Record the day; return the log positions of the incidents."""
    world.clock.now = h(-2)
    world.room("SR-3")
    for site_id in ("PH", "NO1", "NO2"):  # the printing house and the two schools
        world.site(site_id)
    data = json.loads(resources.files("schemas").joinpath(
        "policies/four-including-two-police.json").read_text())
    data.update(version=2, presence_window_minutes=30)
    world.app.set_policy(PresencePolicy.from_data(data), world.signers[AUTHORITY], h(-2))
    printing = ["POL-01", "POL-02", "STF-01", "STF-02"]
    world.clock.now = h(0)
    for lot_id, seal in (("BAG-1", "SQ-1"), ("BAG-2", "SQ-2")):
        world.register(lot_id, team=printing, lot={"seals": [seal]}, location=PRINTING)

    def step(lot_id: str, event_type: str, fields: dict, team: list[str], hours: float,
             location: str, **kw):
        return world.step(f"lot:{lot_id}", event_type, fields, team, h(hours),
                          location=location, **kw)

    def seals(*found: str) -> dict:
        return {"seals_checked": list(found), "count_checked": 30}

    step("BAG-1", "lot.handed_over", {"from": "STF-01", "to": "STF-02", **seals("SQ-1")},
         printing, 1, PRINTING)
    # Incident 1: at the second handover the bag carries another seal number.
    swapped = step("BAG-1", "lot.handed_over", {"from": "STF-02", "to": "STF-03",
                                                **seals("SQ-7")},
                   ["POL-01", "POL-02", "STF-02", "STF-03"], 2, PRINTING,
                   acknowledge="seal SQ-1 found replaced by SQ-7; reported to the inspector")
    step("BAG-2", "lot.handed_over", {"from": "STF-01", "to": "STF-03", **seals("SQ-2")},
         ["POL-01", "POL-02", "STF-01", "STF-03"], 2.1, PRINTING)
    world.step("room:SR-3", "duty.started", {}, ["POL-02", "POL-03", "STF-04", "STF-05"], h(4),
               location="SR-3")
    for lot_id, seal in (("BAG-1", "SQ-7"), ("BAG-2", "SQ-2")):
        step(lot_id, "lot.stored", {"from": "STF-03", "room": "SR-3", **seals(seal)},
             ["POL-01", "POL-02", "STF-03", "STF-04"], 4.5, "SR-3")
    # Incident 2: STF-05 leaves at 04:00 (Beijing) and nobody replaces them until 08:00.
    gap_opened = world.step("room:SR-3", "duty.ended", {}, ["STF-05"], h(12), location="SR-3")
    world.step("room:SR-3", "duty.started", {}, ["STF-06"], h(16), location="SR-3")
    night = ["POL-02", "POL-03", "STF-04", "STF-06"]
    step("BAG-1", "lot.retrieved", {"room": "SR-3", "to": "STF-04", **seals("SQ-7")}, night, 20,
         "SR-3")
    step("BAG-2", "lot.retrieved", {"room": "SR-3", "to": "STF-06", **seals("SQ-2")}, night,
         20.05, "SR-3")
    world.step("room:SR-3", "duty.ended", {}, night, h(20.2), location="SR-3")
    first = step("BAG-1", "lot.distributed", {"from": "STF-04", "to": "site:S01-R01",
                                              **seals("SQ-7")},
                 ["POL-01", "POL-02", "STF-01", "STF-04"], 21, NO1, place="site:NO1")
    # Incidents 3 and 4: BAG-2 goes to the wrong site, co-signed by POL-01 twelve minutes
    # after signing at No. 1 Middle School.
    wrong = step("BAG-2", "lot.distributed", {"from": "STF-06", "to": "site:S02-R01",
                                              **seals("SQ-2")},
                 ["POL-01", "POL-03", "STF-03", "STF-06"], 21.2, NO2, place="site:NO2")
    fix = ["POL-01", "POL-03", "STF-03", "STF-06"]
    corrected = step("BAG-2", "lot.corrected",
                     {"corrects": {"seq": wrong.seq, "event_hash": wrong.event_hash},
                      "reason": "distributed to S02-R01 by mistake; it belongs to S01-R01"},
                     fix, 22, NO2, place="site:NO2")
    moved = step("BAG-2", "lot.handed_over", {"from": "site:S02-R01", "to": "site:S01-R01",
                                              **seals("SQ-2")}, fix, 23, NO1, place="site:NO1")
    world.clock.now = h(24)
    return {"swapped": swapped.position, "gap_opened": gap_opened.position,
            "first": first.position, "wrong": wrong.position,
            "corrected": corrected.position, "moved": moved.position}


def run(world, *args: str):
    result = CliRunner().invoke(main, ["--db", str(world.db), *args])
    return result


def test_verify_reports_every_incident_where_it_happened_and_nothing_else(world) -> None:
    at = incident_day(world)
    result = run(world, "verify", "--json", "--workers", "1")
    assert result.exit_code == 1, result.output  # the duty gap is an error
    report = json.loads(result.stdout)
    found = sorted((f["code"], f["position"]) for f in report["findings"])
    assert found == sorted([("ACKNOWLEDGED_VIOLATION", at["swapped"]),
                            ("PRESENCE_CONFLICT", at["wrong"]),
                            ("CORRECTION", at["corrected"]),
                            ("DUTY_UNCOVERED", at["gap_opened"])])
    by_code = {f["code"]: f for f in report["findings"]}
    assert by_code["ACKNOWLEDGED_VIOLATION"]["evidence"]["code"] == "SEAL_MISMATCH"
    conflict = by_code["PRESENCE_CONFLICT"]
    assert conflict["severity"] == "warning"
    assert conflict["evidence"]["person"] == "POL-01"
    assert conflict["evidence"]["kind"] == "window"
    assert conflict["evidence"]["minutes_apart"] == 12
    assert conflict["evidence"]["other"]["position"] == at["first"]
    assert (conflict["evidence"]["other"]["location"], conflict["evidence"]["step"]["location"]
            ) == (NO1, NO2)
    assert (conflict["evidence"]["other"]["place"], conflict["evidence"]["step"]["place"]
            ) == ("site:NO1", "site:NO2")
    # The gap is reported once, at the shift's end that opened it (its end: timeline room).
    gap = by_code["DUTY_UNCOVERED"]
    assert gap["stream"] == "room:SR-3"
    assert (gap["evidence"]["room"], gap["evidence"]["start"]) == ("SR-3", GAP[0])
    # The view keeps the same findings at the same positions, and matches a rebuild.
    assert run(world, "replay").exit_code == 0  # a read brings the view up to the head
    projections = run(world, "verify", "--projections", "--json", "--workers", "1")
    assert not [f for f in json.loads(projections.stdout)["findings"]
                if f["code"].startswith("PROJECTION")]


def test_replay_shows_each_incident_at_its_step(world) -> None:
    at = incident_day(world)
    bag1 = run(world, "replay", "--lot", "BAG-1", "--json")
    bag2 = run(world, "replay", "--lot", "BAG-2", "--json")
    text = run(world, "replay", "--lot", "BAG-2")
    assert bag1.exit_code == 0 and bag2.exit_code == 0, bag1.output + bag2.output
    for result in (bag1, bag2):
        schema("replay").validate(json.loads(result.stdout))
    steps1 = {s["position"]: s for s in json.loads(bag1.stdout)["steps"]}
    swapped = steps1[at["swapped"]]
    assert (swapped["holder_before"], swapped["holder_after"]) == ("STF-02", "STF-03")
    assert swapped["seals"] == {"verdict": "acknowledged", "expected": ["SQ-1"],
                                "found": ["SQ-7"]}
    assert [f["code"] for f in swapped["findings"]] == ["ACKNOWLEDGED_VIOLATION"]
    assert [p for p, s in steps1.items() if s["findings"]] == [at["swapped"]]
    assert all(s["seals"]["verdict"] == "ok" for p, s in steps1.items()
               if s["seals"] and p != at["swapped"])

    data2 = json.loads(bag2.stdout)
    steps2 = {s["position"]: s for s in data2["steps"]}
    assert data2["log_position"] == world.app.last_position()
    wrong = steps2[at["wrong"]]
    assert (wrong["holder_before"], wrong["holder_after"]) == ("STF-06", "site:S02-R01")
    assert [f["code"] for f in wrong["findings"]] == ["PRESENCE_CONFLICT"]
    assert {a["person"]: a["role"] for a in wrong["attendees"]} == {
        "POL-01": "police", "POL-03": "police", "STF-03": "staff", "STF-06": "staff"}
    assert wrong["presence"]["verdict"] == "met"
    assert [f["code"] for f in steps2[at["corrected"]]["findings"]] == ["CORRECTION"]
    moved = steps2[at["moved"]]
    assert (moved["holder_before"], moved["holder_after"]) == ("site:S02-R01", "site:S01-R01")
    assert [p for p, s in steps2.items() if s["findings"]] == [at["wrong"], at["corrected"]]

    # On a terminal: one line per step that stands alone, details indented below it.
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    (line,) = [ln for ln in lines if ln.startswith(f"{at['wrong']:>6}  ")]
    assert "lot:BAG-2" in line and "lot.distributed at No. 2 Middle School" in line
    assert "held by STF-06 -> site:S02-R01" in line and line.endswith("PRESENCE_CONFLICT")
    detail = lines[lines.index(line) + 2]
    assert detail.startswith("        WARNING PRESENCE_CONFLICT: POL-01 signed lot.distributed")
    assert lines[-1] == (f"{len(steps2)} step(s), 2 with findings; as of log position "
                         f"{world.app.last_position()}, from the view")


def test_replay_of_a_window_and_of_a_room(world) -> None:
    at = incident_day(world)
    window = run(world, "replay", "--from", h(21).isoformat(), "--to", h(21.5).isoformat(),
                 "--json")
    assert window.exit_code == 0, window.output
    assert [s["position"] for s in json.loads(window.stdout)["steps"]] == [at["first"],
                                                                          at["wrong"]]
    room = run(world, "replay", "--room", "SR-3", "--json")
    steps = json.loads(room.stdout)["steps"]
    assert [s["type"] for s in steps].count("lot.stored") == 2
    assert at["gap_opened"] in [s["position"] for s in steps]


def test_the_officers_timeline_flags_the_conflict_at_the_second_site(world) -> None:
    at = incident_day(world)
    result = run(world, "timeline", "person", "POL-01", "--json")
    text = run(world, "timeline", "person", "POL-01")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    schema("timeline").validate(data)
    entries = data["entries"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    flagged = [e for e in entries if any(f["code"] == "PRESENCE_CONFLICT"
                                         for f in e["findings"])]
    assert [(e["position"], e["location"], e["at"]) for e in flagged] == [
        (at["wrong"], NO2, ts(21.2))]
    assert [e["location"] for e in entries if e["at"] in (ts(21), ts(21.2))] == [NO1, NO2]
    lines = text.stdout.splitlines()
    (line,) = [ln for ln in lines if f"#{at['wrong']} " in ln]
    assert line.startswith(shown(21.2)) and line.endswith("[PRESENCE_CONFLICT]")
    assert lines[-1].endswith(f"1 PRESENCE_CONFLICT; as of log position "
                              f"{world.app.last_position()}, from the view")
    # A staff member's night shift: from its start to its end, with the room.
    keeper = json.loads(run(world, "timeline", "person", "STF-05", "--json").stdout)
    (shift,) = [e for e in keeper["entries"] if e["kind"] == "duty"]
    assert (shift["at"], shift["end"], shift["stream"]) == (ts(4), ts(12), "room:SR-3")


def test_the_rooms_timeline_shows_the_night_gap_between_the_shifts(world) -> None:
    at = incident_day(world)
    result = run(world, "timeline", "room", "SR-3", "--json")
    text = run(world, "timeline", "room", "SR-3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    schema("timeline").validate(data)
    kinds = [(e["kind"], e["at"]) for e in data["entries"]]
    assert kinds.count(("stored", ts(4.5))) == 2
    assert ("retrieved", ts(20)) in kinds and ("retrieved", ts(20.05)) in kinds
    (gap,) = [e for e in data["entries"] if e["kind"] == "duty_gap"]
    assert (gap["at"], gap["end"]) == GAP
    assert [f["code"] for f in gap["findings"]] == ["DUTY_UNCOVERED"]
    # The gap sits between the shift change that opened it and the one that closed it.
    index = data["entries"].index(gap)
    assert data["entries"][index - 1]["position"] == at["gap_opened"]
    assert data["entries"][index + 1]["type"] == "duty.started"
    assert any(line.startswith(f"{shown(12)}  DUTY GAP until {shown(16)}: secure room SR-3 held "
                               "papers") for line in text.stdout.splitlines())
    assert text.stdout.splitlines()[-1].endswith(", 1 duty gap(s); as of log position "
                                                 f"{world.app.last_position()}, from the view")


def test_a_view_folded_before_it_kept_findings_is_folded_again_on_the_next_read(world) -> None:
    """A view an older version folded has no view_findings rows and no view_version: the next
    read folds it again from the first event, so replay still shows every incident."""
    from tests.backends.test_projections import _edit

    at = incident_day(world)
    assert run(world, "status").exit_code == 0
    _edit(str(world.db), "DELETE FROM view_findings")
    _edit(str(world.db), "DELETE FROM view_meta WHERE key = 'view_version'")

    result = run(world, "replay", "--lot", "BAG-1", "--json")

    assert result.exit_code == 0, result.output
    steps = {s["position"]: s for s in json.loads(result.stdout)["steps"]}
    assert [f["code"] for f in steps[at["swapped"]]["findings"]] == ["ACKNOWLEDGED_VIOLATION"]
    projections = run(world, "verify", "--projections", "--json", "--workers", "1")
    assert [f["code"] for f in json.loads(projections.stdout)["findings"]] == [
        "ACKNOWLEDGED_VIOLATION", "DUTY_UNCOVERED", "PRESENCE_CONFLICT", "CORRECTION"]


def _rows(html: str, kind: str) -> list[str]:
    return re.findall(rf'<tr class="{kind}">(.*?)</tr>', html, flags=re.S)


def test_the_report_shows_each_incident_at_its_step(world, tmp_path) -> None:
    at = incident_day(world)
    out = tmp_path / "incident.html"
    result = run(world, "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    # The table of findings: each incident's code at its position, the gap with its times.
    findings = {(re.search(r'<td class="code">([\w<>]+)</td>', row).group(1).replace("<wbr>", ""),
                 re.search(r'<td class="num">([^<]+)</td>', row).group(1))
                for row in _rows(html, "finding")}
    assert findings == {("ACKNOWLEDGED_VIOLATION", str(at["swapped"])),
                        ("PRESENCE_CONFLICT", str(at["wrong"])),
                        ("CORRECTION", str(at["corrected"])),
                        ("DUTY_UNCOVERED", str(at["gap_opened"]))}
    # Each lot's timeline marks the step where it happened, and only that step.
    steps = {int(re.search(r"#(\d+)</span>", row).group(1)): row for row in _rows(html, "step")}
    assert "ACKNOWLEDGED VIOLATION:" in steps[at["swapped"]]
    assert "seal SQ-1 found replaced by SQ-7" in steps[at["swapped"]]
    assert "PRESENCE_CONFLICT" in steps[at["wrong"]]
    assert "CORRECTION of" in steps[at["corrected"]]
    flagged = {p for p, row in steps.items() if 'class="flag' in row}
    assert flagged == {at["swapped"], at["wrong"], at["corrected"]}
    # The night's duty gap, in the secure room's coverage.
    assert GAP[0][:16] in html and GAP[1][:16] in html
