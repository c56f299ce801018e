"""The lifecycle commands end to end: offline co-signing, rooms, duty, status, policy, packing."""

from __future__ import annotations

import json
import re

from tests.cli.test_errors import failing
from tests.conftest import TEAM

HANDOVER = ["--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02", "--seal", "SEAL-1",
            "--seal", "SEAL-2", "--count", "30", "--location", "Secure room 1",
            "--occurred-at", "2026-06-06T06:10:00+08:00"]


def attendees(*people: str) -> list[str]:
    return [arg for p in people for arg in ("--attendee", p)]


def draft_and_sign(ready, path, people=TEAM, signers=None):
    if signers is None:
        ready.ok("draft", "handover", *HANDOVER, *attendees(*people), "--out", str(path))
    for person in signers or people:
        result = ready.ok("sign", str(path), "--key", ready.key(person),
                          "--passphrase-file", ready.secret(person), "--yes")
    return result


def test_offline_co_signing_draft_sign_submit(ready, tmp_path):
    path = tmp_path / "handover.draft"
    result = ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    assert "to be signed by POL-01, POL-02, STF-01, STF-02, STF-03, STF-04" in result.output
    first = ready.ok("sign", str(path), "--key", ready.key("POL-01"), "--passphrase-file",
                     ready.secret("POL-01"), input="y\n")
    # The signer reads the step in plain words before saying yes.
    assert "lot.handed_over for lot:LOT-1 (step 2 of ledger cli-ledger)" in first.output
    assert "STF-01 -> STF-02" in first.output and "checked: count 30, seals SEAL-1, SEAL-2" in first.output
    assert "1 of 6 attendees have signed (still to sign: POL-02" in first.output
    last = draft_and_sign(ready, path, signers=TEAM[1:])
    assert "6 of 6 attendees have signed; ready to submit" in last.output
    submitted = ready.ok("submit", str(path))
    assert "recorded lot.handed_over lot:LOT-1 step 2" in submitted.output
    assert ready.ok("verify").output.startswith("intact")


def test_a_stale_draft_is_refused_with_exit_6(ready, tmp_path):
    path = tmp_path / "handover.draft"
    draft_and_sign(ready, path)
    ready.ok("record", "handover", *HANDOVER, *ready.signing(*TEAM),  # another step first
             "--note", "recorded first elsewhere")
    failing(ready, 6, "lot:LOT-1 changed since this event was drafted", "submit", str(path))


def test_a_hand_edited_draft_is_refused_before_anyone_signs(ready, tmp_path):
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    path.write_text(path.read_text().replace('"count_checked": 30', '"count_checked":30'))
    failing(ready, 2, "was edited by hand or damaged",
            "sign", str(path), "--key", ready.key("POL-01"), "--yes")


def test_a_draft_with_duplicate_keys_is_refused(ready, tmp_path):
    path = tmp_path / "x.draft"
    path.write_text('{"format": "custody-draft/1", "format": "x"}')
    failing(ready, 2, "duplicate key 'format'", "submit", str(path))


def test_only_attendees_may_sign_a_draft(ready, tmp_path):
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    before = path.read_bytes()
    failing(ready, 4, "is the key of STF-06, who is not among this step's attendees", "sign",
            str(path),
            "--key", ready.key("STF-06"), "--passphrase-file", ready.secret("STF-06"), "--yes")
    assert path.read_bytes() == before


def test_declining_to_sign_changes_nothing(ready, tmp_path):
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    before = path.read_bytes()
    failing(ready, 2, "not signed: you declined", "sign", str(path), "--key", ready.key("POL-01"),
            "--passphrase-file", ready.secret("POL-01"), input="n\n")
    assert path.read_bytes() == before


def test_submitting_a_partly_signed_draft_is_refused(ready, tmp_path):
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    ready.ok("sign", str(path), "--key", ready.key("POL-01"), "--passphrase-file",
             ready.secret("POL-01"), "--yes")
    failing(ready, 3, "POL-02 is listed as present but has no valid signature", "submit", str(path))


def test_secure_room_storage_duty_and_status(ready):
    authority = ready.authority()
    ready.ok("room", "register", "SR-3", "--name", "County room 3", "--licence", "BM-31",
             "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2026-12-31T00:00:00+08:00",
             "--occurred-at", "2026-06-05T08:00:00+08:00", *authority)
    ready.ok("duty", "start", "--room", "SR-3", "--location", "SR-3",
             "--occurred-at", "2026-06-06T05:00:00+08:00",
             *ready.signing("POL-01", "POL-02", "STF-05", "STF-06"))
    ready.ok("record", "store", "--lot", "LOT-1", "--from", "STF-01", "--room", "SR-3",
             "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "SR-3",
             "--occurred-at", "2026-06-06T06:00:00+08:00", *ready.signing(*TEAM))
    out = ready.ok("status").output
    assert "LOT-1" in out and "held by room:SR-3; last lot.stored at SR-3" in out and "clean" in out
    held = json.loads(ready.ok("status", "--holder", "room:SR-3", "--json").output)["lots"]
    assert [lot["lot"] for lot in held] == ["LOT-1"]
    assert json.loads(ready.ok("status", "--holder", "STF-01", "--json").output)["lots"] == []
    earlier = json.loads(ready.ok("status", "--as-of", "2026-06-06T05:45:00+08:00",
                                  "--json").output)["lots"]
    assert earlier[0]["holder"] == "STF-01"
    # STF-06 ends their shift: three stay on duty, one short. The step is recorded, and the
    # recorder says what verify will report at its position, and what to do.
    ended = ready.ok("duty", "end", "--room", "SR-3", "--location", "SR-3",
                     "--occurred-at", "2026-06-06T07:00:00+08:00", *ready.signing("STF-06"))
    position = re.search(r"at position (\d+)", ended.output).group(1)
    assert ("warning: DUTY_UNCOVERED: secure room SR-3 holds papers from "
            "2026-06-06T07:00:00+08:00 with too few on duty: needs 4 police or staff, has 3"
            ) in ended.output
    assert "start a duty shift in SR-3 now (custody duty start --room SR-3" in ended.output
    result = ready("verify")
    assert result.exit_code == 1
    assert (f"DUTY_UNCOVERED         position {position} room:SR-3: secure room SR-3 holds "
            "papers from 2026-06-06T07:00:00+08:00") in result.output


def test_store_in_an_unregistered_room_is_refused(ready):
    failing(ready, 2, "unknown secure room SR-9; 'custody room register' registers one",
            "record", "store",
            "--lot", "LOT-1", "--from", "STF-01", "--room", "SR-9", "--seal", "SEAL-1",
            "--seal", "SEAL-2", "--count", "30", "--location", "SR-9", *ready.signing(*TEAM))


def test_an_acknowledged_violation_is_recorded_and_flagged(ready):
    five = TEAM[:5]
    args = ["record", "handover", *HANDOVER, *ready.signing(*five)]
    failing(ready, 3, "needs 4 staff, has 3", *args)
    result = ready.ok(*args, "--acknowledge-violation", "STF-04 taken ill; replacement on the way")
    assert "warning: ACKNOWLEDGED_VIOLATION" in result.output
    verify = ready.ok("verify")  # warnings do not make the ledger not intact
    assert "WARNING ACKNOWLEDGED_VIOLATION" in verify.output and "intact (with warnings)" in verify.output


def test_policy_set_puts_a_new_version_in_force(ready, tmp_path):
    from importlib import resources

    data = json.loads(resources.files("schemas").joinpath(
        "policies/four-including-two-police.json").read_text())
    data["version"] = 2
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    result = ready.ok("policy", "set", str(path), *ready.authority())
    assert "policy four-including-two-police v2 is in force" in result.output
    # Four people including two police now suffice.
    ready.ok("record", "handover", *HANDOVER, *ready.signing("POL-01", "POL-02", "STF-01", "STF-02"))
    failing(ready, 3, "does not follow the version in force", "policy", "set", str(path),
            *ready.authority())


def test_a_malformed_policy_file_is_refused(ready, tmp_path):
    path = tmp_path / "policy.json"
    path.write_text('{"id": "x", "version": 2, "steps": {"*": {"require": [{"roles": ["chef"], "at_least": 1}]}}}')
    failing(ready, 2, "is not valid", "policy", "set", str(path), *ready.authority())
    path.write_text("{not json")
    failing(ready, 2, "is not JSON", "policy", "set", str(path), *ready.authority())


def test_pack_move_and_unpack_a_container(ready):
    ready.ok("lot", "register", "BOX-1", "--exam", "gaokao-2026", "--subject", "math", "--kind",
             "container", "--count", "1", "--seal", "SB-1", "--holder", "STF-01",
             "--location", "Printing house", "--occurred-at", "2026-06-06T05:40:00+08:00",
             *ready.signing(*TEAM))
    ready.ok("lot", "pack", "BOX-1", "--lot", "LOT-1", "--location", "Printing house",
             "--occurred-at", "2026-06-06T05:50:00+08:00", *ready.signing(*TEAM))
    failing(ready, 3, "lot LOT-1 is packed in BOX-1", "record", "handover", *HANDOVER,
            *ready.signing(*TEAM))
    box = [a if a != "LOT-1" else "BOX-1" for a in HANDOVER]
    box[box.index("SEAL-1")] = "SB-1"
    del box[box.index("SEAL-2") - 1: box.index("SEAL-2") + 1]
    box[box.index("30")] = "1"
    ready.ok("record", "handover", *box, *ready.signing(*TEAM))
    status = json.loads(ready.ok("status", "LOT-1", "--json").output)["lots"]
    assert status[0]["holder"] == "STF-02" and status[0]["packed_in"] == "BOX-1"
    ready.ok("lot", "unpack", "BOX-1", "--lot", "LOT-1", "--location", "Secure room 1",
             "--occurred-at", "2026-06-06T06:20:00+08:00", *ready.signing(*TEAM))
    status = json.loads(ready.ok("status", "LOT-1", "--json").output)["lots"]
    assert status[0]["holder"] == "STF-02" and status[0]["packed_in"] is None
    assert ready.ok("verify").output.startswith("intact")
    # history shows what the bag went through inside the box, between packing and unpacking
    heads = [line for line in ready.ok("history", "LOT-1").output.splitlines()
             if re.match(r" *\d+(\.\d+)?  \d{4}-", line)]
    assert [line.split()[2] for line in heads] == [
        "lot.registered", "lot.packed", "lot.handed_over", "lot.unpacked"]
    # Numbered as they happened: the box's own step 2 is the bag's 2.1, between 2 and 3.
    assert [line.split()[0] for line in heads] == ["1", "2", "2.1", "3"]
    assert heads[2].endswith("[step 2 of container BOX-1]")
    assert not any("of container" in line for line in heads[:2] + heads[3:])


def test_a_container_step_dated_before_the_packing_but_recorded_after_it_is_the_lots_everywhere(
        ready):
    """The box is handed over at 05:45 but the handover is recorded after the bag was packed
    (05:50): the fold judges the bag by it (status: the box's new holder holds the bag), so
    history and replay both show it as the bag's step; they used to disagree (history chose by
    time, replay by log position)."""
    ready.ok("lot", "register", "BOX-1", "--exam", "gaokao-2026", "--subject", "math", "--kind",
             "container", "--count", "1", "--seal", "SB-1", "--holder", "STF-01",
             "--location", "Printing house", "--occurred-at", "2026-06-06T05:40:00+08:00",
             *ready.signing(*TEAM))
    ready.ok("lot", "pack", "BOX-1", "--lot", "LOT-1", "--location", "Printing house",
             "--occurred-at", "2026-06-06T05:50:00+08:00", *ready.signing(*TEAM))
    box = [a if a != "LOT-1" else "BOX-1" for a in HANDOVER]
    box[box.index("SEAL-1")] = "SB-1"
    del box[box.index("SEAL-2") - 1: box.index("SEAL-2") + 1]
    box[box.index("30")] = "1"
    box[box.index("2026-06-06T06:10:00+08:00")] = "2026-06-06T05:45:00+08:00"
    ready.ok("record", "handover", *box, *ready.signing(*TEAM))
    (lot,) = json.loads(ready.ok("status", "LOT-1", "--json").output)["lots"]
    assert (lot["holder"], lot["packed_in"]) == ("STF-02", "BOX-1")
    heads = [line.split() for line in ready.ok("history", "LOT-1").output.splitlines()
             if re.match(r" *\d+(\.\d+)?  \d{4}-", line)]
    assert [(h[0], h[2]) for h in heads] == [
        ("1", "lot.registered"), ("2", "lot.packed"), ("2.1", "lot.handed_over")]
    replay = json.loads(ready.ok("replay", "--lot", "LOT-1", "--json").output)
    assert [(s["type"], s["via"]) for s in replay["steps"]] == [
        ("lot.registered", None), ("lot.packed", None), ("lot.handed_over", "BOX-1")]
    assert ready.ok("verify").output.startswith("intact")


def test_history_of_a_lot_still_packed_ends_with_its_container_steps(world):
    world.register("LOT-1")
    world.register("BOX-1", lot={"kind": "container", "count": 1, "seals": ["SB-1"]})
    world.app.pack("BOX-1", ["LOT-1"], False, "Printing house", world.clock(), world.sign(*TEAM))
    world.handover("BOX-1", "STF-01", "STF-02", seals=["SB-1"], count=1, at=world.clock())
    history = [(e.body["type"], e.body["stream"], via)
               for e, via in world.app.lot_history("LOT-1")]
    assert history == [("lot.registered", "lot:LOT-1", None), ("lot.packed", "lot:LOT-1", None),
                       ("lot.handed_over", "lot:BOX-1", "BOX-1")]


def test_draft_to_an_existing_file_is_refused(ready, tmp_path):
    path = tmp_path / "exists.draft"
    path.write_text("keep me")
    failing(ready, 2, "already exists", "draft", "handover", *HANDOVER, *attendees(*TEAM),
            "--out", str(path))
    assert path.read_text() == "keep me"


def test_verify_since_and_as_of_check_only_the_part_asked_for(ready):
    import sqlite3

    ready.ok("record", "handover", *HANDOVER, *ready.signing(*TEAM))  # position 13, 06:10+08:00
    with sqlite3.connect(ready.db) as conn:
        # STF-05's enrolment (nobody relies on it) made undecodable; the handover's location
        # edited in place, so it still decodes and can be dated, but no signature verifies.
        conn.execute("UPDATE stored_events SET state = CAST(state || x'00' AS BLOB) WHERE rowid = 9")
        state = conn.execute("SELECT state FROM stored_events WHERE rowid = 13").fetchone()[0]
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 13",
                     (state.replace(b"Secure room 1", b"Secure room 2"),))
    everything = ready("verify", "--json")
    assert everything.exit_code == 1
    assert sorted({f["position"] for f in json.loads(everything.output)["findings"]}) == [9, 13]
    later = ready("verify", "--since", "10", "--json")
    assert {f["position"] for f in json.loads(later.output)["findings"]} == {13}
    assert json.loads(later.output)["events"] == 4  # positions 10..13
    before = ready("verify", "--since", "10", "--as-of", "2026-06-06T06:00:00+08:00")
    assert before.exit_code == 0 and before.output.startswith("intact")


def test_revoke_then_rotate_a_key_through_the_cli(ready, tmp_path):
    ready.ok("person", "revoke", "STF-04", "--reason", "key file lost", *ready.authority())
    failing(ready, 4, "the key of STF-04 was revoked", "record", "handover", *HANDOVER,
            *ready.signing(*TEAM))
    ready.ok("keys", "new", "STF-04", "--out", str(tmp_path / "new.key"), "--passphrase-file",
             ready.secret("STF-04"))
    failing(ready, 2, "is the public key of STF-04, not STF-05", "person", "rotate", "STF-05",
            "--public-key", str(tmp_path / "new.key.pub"), *ready.authority())
    ready.ok("person", "rotate", "STF-04", "--public-key", str(tmp_path / "new.key.pub"),
             *ready.authority())
    signing = ready.signing(*TEAM)
    signing[signing.index(ready.key("STF-04"))] = str(tmp_path / "new.key")
    ready.ok("record", "handover", *HANDOVER, *signing)
    assert ready.ok("verify").output.startswith("intact")


def _rewrite_draft(path, change):
    """What an attacker who can write the draft file does: parse, change, format canonically,
    so the file passes the draft parser's own checks."""
    from ledger.application.drafts import format_draft, parse_draft

    body, signatures = parse_draft(path.read_bytes(), source=str(path))
    change(body)
    path.write_text(format_draft(body, signatures), encoding="utf-8")


def test_an_edited_canonical_draft_with_a_changed_count_is_refused_before_anyone_signs(
        ready, tmp_path):
    """The draft is re-formatted canonically after its count was changed to 29: it parses,
    but submit would refuse it (COUNT_MISMATCH), so sign refuses it first: exit 3, no
    signature added, the file unchanged."""
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    _rewrite_draft(path, lambda body: body.update(count_checked=29))
    before = path.read_bytes()
    line = failing(ready, 3, "count checked 29, but 30 on record", "sign", str(path),
                   "--key", ready.key("POL-01"), "--passphrase-file", ready.secret("POL-01"),
                   "--yes")
    assert "refused lot.handed_over for lot:LOT-1" in line
    assert path.read_bytes() == before


def test_an_edited_canonical_draft_naming_a_holder_who_does_not_hold_the_lot_is_refused(
        ready, tmp_path):
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    _rewrite_draft(path, lambda body: body.update({"from": "STF-03"}))
    failing(ready, 3, "lot LOT-1 is held by STF-01, not STF-03", "sign", str(path),
            "--key", ready.key("POL-01"), "--passphrase-file", ready.secret("POL-01"), "--yes")


def test_a_stale_draft_is_refused_by_sign_with_exit_6(ready, tmp_path):
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    ready.ok("record", "handover", *HANDOVER, *ready.signing(*TEAM))
    failing(ready, 6, "lot:LOT-1 changed since this event was drafted", "sign", str(path),
            "--key", ready.key("POL-01"), "--passphrase-file", ready.secret("POL-01"), "--yes")


def test_a_store_into_an_unstaffed_room_is_recorded_with_the_warning_verify_reports(ready):
    """The symptom: a store into a secure room with nobody on duty was accepted in silence,
    and verify then reported DUTY_UNCOVERED for ever. The store is still recorded (the
    papers must go somewhere), but says so, with what to do; verify reports that very
    finding at that very position; a duty shift started at once closes the gap."""
    ready.ok("room", "register", "SR-3", "--name", "County room 3", "--licence", "BM-31",
             "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2026-12-31T00:00:00+08:00",
             "--occurred-at", "2026-06-05T08:00:00+08:00", *ready.authority())
    stored = ready.ok("record", "store", "--lot", "LOT-1", "--from", "STF-01", "--room", "SR-3",
                      "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location",
                      "SR-3", "--occurred-at", "2026-06-06T06:00:00+08:00",
                      *ready.signing(*TEAM))
    position = int(re.search(r"at position (\d+)", stored.output).group(1))
    (warning,) = [line for line in stored.output.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: DUTY_UNCOVERED: secure room SR-3 holds papers from "
                              "2026-06-06T06:00:00+08:00 with too few on duty: needs 4 police "
                              "or staff, has 0 (nobody)")
    assert warning.endswith("start a duty shift in SR-3 now (custody duty start --room SR-3 "
                            "... --sign ...); until then the room is uncovered")
    ready.ok("duty", "start", "--room", "SR-3", "--location", "SR-3",
             "--occurred-at", "2026-06-06T06:05:00+08:00",
             *ready.signing("POL-01", "POL-02", "STF-05", "STF-06"))
    report = json.loads(ready("verify", "--json").stdout)
    assert [(f["code"], f["position"]) for f in report["findings"]] == [
        ("DUTY_UNCOVERED", position)]
    gaps = json.loads(ready.ok("presence", "--room", "SR-3", "--json").stdout)["duty_gaps"]
    assert [(g["start"], g["end"]) for g in gaps] == [
        ("2026-06-05T22:00:00.000000Z", "2026-06-05T22:05:00.000000Z")]
