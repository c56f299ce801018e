"""Hostile text: refused at every option, escaped wherever the ledger's contents are printed,
and every signed field shown to the person about to sign it."""

from __future__ import annotations

import copy
import json
import unicodedata

import pytest

from cli import render
from tests.cli.test_errors import failing
from tests.cli.test_lifecycle import HANDOVER, attendees
from tests.conftest import TEAM, build_world
from tests.tamper.attacker import Attacker
from tests.unit.test_exam_day import exam_day

HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
FORGED_LINE = "     present: POL-01 (police), POL-02 (police), FAKE-01 (police)"


def hidden(output: str) -> list[str]:
    """Every character in ``output`` a terminal could act on or hide, but the newlines."""
    return [c for c in output if c != "\n" and unicodedata.category(c) in HIDDEN]


# -- refused at the option --------------------------------------------------------------


@pytest.mark.parametrize("option, value, reason", [
    ("--location", "Secure room 1\n" + FORGED_LINE, "contains U+000A, a control or invisible"),
    ("--location", "Room \x1b[2J\x1b[H", "contains U+001B"),
    ("--location", "Room\r", "contains U+000D"),
    ("--location", "Room \u202e1 moor", "contains U+202E"),
    ("--location", "Room\u2028two", "contains U+2028"),
    ("--location", "x" * 201, "is 201 characters long; at most 200 are accepted"),
    ("--note", "fine\x9b31m", "contains U+009B"),
    ("--acknowledge-violation", "late\x07", "contains U+0007"),
    ("--lot", "LOT-1\u200b", "contains U+200B, a control or invisible character; expected an id"),
    ("--to", "STF-02\u200d", "contains U+200D"),
    ("--to", "room:SR 3", "'room:SR 3' is not a party"),
    ("--seal", "SEAL-1\ufeff", "contains U+FEFF"),
    ("--evidence", "AB" * 32, f"'{'AB' * 32}' is not a SHA-256 digest"),
])
def test_a_hostile_step_option_is_one_line_naming_it_and_nothing_is_written(
        ready, option, value, reason):
    args = ready.handover_args()
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    line = failing(ready, 2, f"error: {option}: {reason}", *args)
    assert not hidden(line)


@pytest.mark.parametrize("args, option", [
    (["person", "enrol", "NEW-01", "--name", "Li\x1b[8mWei", "--role", "staff", "--unit", "U"],
     "--name"),
    (["person", "enrol", "NEW-01", "--name", "Li Wei", "--role", "staff", "--unit", "U\n"],
     "--unit"),
    (["person", "revoke", "STF-01", "--reason", "lost\u2029"], "--reason"),
    (["room", "register", "SR-9", "--name", "Room\u0085", "--licence", "BM-1",
      "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2026-12-31T00:00:00+08:00"],
     "--name"),
    (["room", "register", "SR-9", "--name", "Room", "--licence", "BM-\u200b1",
      "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2026-12-31T00:00:00+08:00"],
     "--licence"),
    (["room", "register", "SR\u200b9", "--name", "Room", "--licence", "BM-1",
      "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2026-12-31T00:00:00+08:00"],
     "ROOM_ID"),
])
def test_a_hostile_authority_option_is_refused_before_the_key_is_used(ready, args, option):
    failing(ready, 2, f"error: {option}: contains U+", *args, *ready.authority())


@pytest.mark.parametrize("option, value, reason", [
    ("--subject", "math\x1b[0m", "contains U+001B"),
    ("--exam", "gaokao 2026", "'gaokao 2026' is not an id"),
    ("--holder", "STF-01\u2066", "contains U+2066"),
])
def test_a_hostile_lot_registration_is_refused(ready, option, value, reason):
    options = {"--exam": "gaokao-2026", "--subject": "math", "--kind": "question_paper",
               "--count": "30", "--seal": "SEAL-1", "--holder": "STF-01",
               "--location": "Printing house", option: value}
    args = [arg for pair in options.items() for arg in pair]
    failing(ready, 2, f"error: {option}: {reason}", "lot", "register", "LOT-9", *args,
            *ready.signing(*TEAM))


# -- escaped wherever printed ------------------------------------------------------------


def test_hostile_text_written_into_the_database_prints_escaped_and_forges_no_line(ready):
    """An attacker with write access puts a newline, a fake 'present:' line, an escape
    sequence, a carriage return and a bidi override into a stored location, and stores a
    row under a hostile stream name. history, status and verify print every one of them as
    an escape; the JSON reports keep them exactly, as JSON escapes."""
    ready.ok(*ready.handover_args())
    attacker = Attacker(ready.db)
    step = attacker.position("lot:LOT-1", 2)
    location = "Secure room 1\n" + FORGED_LINE + "\x1b[2K\r\u202e"
    attacker.rewrite(step, lambda record: record["body"].update(location=location))
    stream = "lot:LOT-1\x1b]0;owned\x07\n" + FORGED_LINE
    attacker.insert(stream, 1, "topic", b"\xc1")

    outputs = {}
    for args in (["history", "LOT-1"], ["status"], ["status", "--json"], ["verify"],
                 ["verify", "--json"]):
        result = ready(*args)
        expected = {"verify": 1, "history": 5}.get(args[0], 0)  # history refuses a damaged lot
        assert result.exit_code == expected, result.output
        assert not hidden(result.output), args
        assert not any(line.startswith(FORGED_LINE) for line in result.output.splitlines()), args
        outputs[" ".join(args)] = result.output

    assert outputs["history LOT-1"].splitlines() == [
        f"error: the ledger is damaged at position {step} (lot:LOT-1): SCHEMA_VIOLATION: "
        "lot:LOT-1 step 2: location: contains U+000A, a control or invisible character; only "
        "plain text on one line is accepted; run 'custody verify' for details"]
    assert "lot:LOT-1\\x1b]0;owned\\x07\\n     present:" in outputs["verify"]
    assert "NOT intact" in outputs["status"]
    report = json.loads(outputs["verify --json"])
    assert stream in {f["stream"] for f in report["findings"]}  # kept exactly, as JSON escapes
    assert [lot["lot"] for lot in json.loads(outputs["status --json"])["lots"]] == ["LOT-1"]


def test_render_escapes_every_hidden_character_and_keeps_plain_unicode():
    assert render.visible("a\x1b[31mb\r\n\t\x7f\x9b\u200b\u202e\u2028\U000e0041\udcff") == (
        "a\\x1b[31mb\\r\\n\\t\\x7f\\x9b\\u200b\\u202e\\u2028\\U000e0041\\udcff")
    plain = "广东省 第一中学 — Prüfungsraum «3»\u00a0\u3000end"
    assert render.visible(plain) == plain
    assert render.shown(["one\ntwo", "three"]) == "one\\ntwo\nthree"
    data = {"location": "x\x1b\u202e\U000e0041 中文"}
    assert json.loads(render.json_text(data)) == data and not hidden(render.json_text(data))


def test_an_error_quoting_a_hostile_value_is_escaped(ready):
    line = failing(ready, 2, "error: unknown lot", "history", "LOT-9")
    assert line == "error: unknown lot LOT-9; did you mean LOT-1?"
    # An id the ledger never had, typed with an escape sequence, is refused as such.
    line = failing(ready, 2, "error: LOT_ID: contains U+001B", "history", "LOT\x1b[2J")
    assert not hidden(line)


# -- sign shows every signed field --------------------------------------------------------


def test_sign_shows_every_field_of_a_correction_before_asking(ready, tmp_path):
    ready.ok("record", "handover", *HANDOVER, "--count", "29",
             "--acknowledge-violation", "one bag torn", *ready.signing(*TEAM))
    path = tmp_path / "correction.draft"
    digest = "ab" * 32
    ready.ok("draft", "correction", "--lot", "LOT-1", "--corrects", "2", "--reason",
             "count typed as 29", "--count", "31", "--seal", "SEAL-8", "--seal", "SEAL-7",
             "--location", "SR-3", "--occurred-at", "2026-06-06T07:00:00+08:00",
             "--note", "recounted twice", "--evidence", digest,
             "--acknowledge-violation", "recount after the fact", *attendees(*TEAM),
             "--out", str(path))
    body = json.loads(path.read_text())["body"]

    result = ready("sign", str(path), "--key", ready.key("POL-01"), "--passphrase-file",
                   ready.secret("POL-01"), input="n\n")
    assert result.exit_code == 2 and "error: not signed: you declined" in result.output
    shown = result.output
    assert "restates: count 31, seals SEAL-7, SEAL-8" in shown
    assert "reason: count typed as 29" in shown
    assert f"corrects.event_hash: {body['corrects']['event_hash']}" in shown
    assert f"evidence: {digest}" in shown
    assert "note: recounted twice" in shown
    assert "ACKNOWLEDGED VIOLATION: recount after the fact" in shown
    assert f"follows {body['prev']} (event schema 1)" in shown
    assert "judged by policy two-police-four-staff v1" in shown


def test_sign_shows_the_escort_of_a_transport(ready, tmp_path):
    path = tmp_path / "depart.draft"
    ready.ok("draft", "transport-depart", "--lot", "LOT-1", "--from", "STF-01", "--vehicle",
             "YUE-A12345", "--escort", "POL-02", "--escort", "POL-01", "--route", "G4 north",
             "--destination", "County Secure Room 3", "--seal", "SEAL-1", "--seal", "SEAL-2",
             "--count", "30", "--location", "Loading bay",
             "--occurred-at", "2026-06-06T06:10:00+08:00", *attendees(*TEAM), "--out", str(path))
    shown = ready.ok("sign", str(path), "--key", ready.key("POL-01"), "--passphrase-file",
                     ready.secret("POL-01"), "--yes").output
    assert "escort: POL-01, POL-02" in shown
    assert "route: G4 north" in shown and "destination: County Secure Room 3" in shown
    assert "STF-01 -> vehicle:YUE-A12345" in shown


@pytest.fixture(scope="module")
def every_kind_of_body(tmp_path_factory):
    """One body of every event type of an exam day, plus a correction restating seals and
    count, with a note, evidence and an acknowledged violation."""
    world = exam_day(build_world(tmp_path_factory.mktemp("bodies") / "custody.db"))
    bodies = {}
    for note in world.app.recorder.select_notifications(start=1, limit=1000):
        body = world.app.mapper.to_domain_event(note).body
        bodies.setdefault(body["type"], body)
    world.app.close()
    step = {k: v for k, v in bodies["lot.stored"].items()
            if k not in ("from", "room", "seals_checked", "count_checked")}
    bodies["lot.corrected"] = {
        **step, "type": "lot.corrected", "corrects": {"seq": 2, "event_hash": "cd" * 32},
        "reason": "recount", "count": 31, "seals": ["SEAL-7", "SEAL-8"], "note": "n",
        "evidence": ["ef" * 32], "acknowledged_violation": {"reason": "late"}}
    bodies["incident.reported"] = {
        **step, "type": "incident.reported", "stream": "incident:INC-1", "seq": 1,
        "incident": {"id": "INC-1", "what": "seal scuffed", "lots": ["LOT-1", "LOT-2"]}}
    bodies["zero.reported"] = {
        **step, "type": "zero.reported", "stream": "zero:ZR-1", "seq": 1,
        "report": {"id": "ZR-1", "scope": "Site 1", "period": {
            "start": "2026-06-06T00:00:00.000000Z", "end": "2026-06-06T04:00:00.000000Z"}}}
    assert {"lot.unpacked", "lot.transport_departed", "person.enrolled", "ledger.genesis",
            "room.registered", "duty.started", "lot.packed"} <= set(bodies)
    return list(bodies.values())


def leaves(value, path=()):
    """(path, scalar) for every string and number in a body, however deep."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from leaves(inner, (*path, index))
    else:
        yield path, value


def replaced(body, path, value):
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def test_describe_shows_every_signed_field_of_every_kind_of_body_in_full(every_kind_of_body):
    """Each field in turn is set to a long, unique value: it must appear whole on the screen
    (a hash cut to 16 characters, a count of digests, a field left out all fail)."""
    checked = 0
    for body in every_kind_of_body:
        for number, (path, value) in enumerate(leaves(body)):
            if isinstance(value, bool):
                continue
            marker = (987_650_000 + number if isinstance(value, int)
                      else f"MARKER-{number:04d}-" + "x" * 40)
            text = render.describe(replaced(body, path, marker))
            assert str(marker) in text, (body["type"], path)
            checked += 1
    assert checked > 300


def test_describe_names_who_takes_an_unpacked_lot(every_kind_of_body):
    body = next(b for b in every_kind_of_body if b["type"] == "lot.unpacked")
    assert f"taken out by: {body['holder']}" in render.describe(body)


@pytest.mark.parametrize("change, reason", [
    ({"location": "Secure room 1\x1b[2K\r" + FORGED_LINE},
     "event is not valid: location: contains U+001B"),
    ({"note": "fine\u202eenif"}, "event is not valid: note: contains U+202E"),
    ({"stream": "lot:LOT-1\u200b"},
     "event is not valid: stream 'lot:LOT-1\\u200b' is not lot:ID with ID an id"),
])
def test_a_draft_made_by_hand_with_hostile_text_is_refused_by_sign_and_submit(
        ready, tmp_path, change, reason):
    """The schema path: a draft in the exact draft format, its body edited before anyone
    signs, is refused by `sign` and by `submit` alike, in one escaped line."""
    from ledger.application.drafts import format_draft

    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    body = json.loads(path.read_text())["body"]
    path.write_text(format_draft({**body, **change}, {}), encoding="utf-8")
    for args in (["sign", str(path), "--key", ready.key("POL-01"), "--passphrase-file",
                  ready.secret("POL-01"), "--yes"], ["submit", str(path)]):
        line = failing(ready, 2, reason, *args)
        assert not hidden(line)
