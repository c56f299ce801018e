"""One rule for ids named on the command line: a lot, exam, room, person or holder that names
nothing in the ledger is a usage error (exit 2) on every command, naming the closest ids,
and writes nothing. A typo used to get a clean zero ("0 step(s)"), or advice to register a
second, wrong lot."""

from __future__ import annotations

import pytest

from ledger.application.keystore import write_key_pair
from tests.cli.conftest import Cli
from tests.conftest import TEAM, fixed_key

ROOM = ["room", "register", "SR-3", "--name", "County Secure Room 3", "--licence", "BM-1",
        "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until",
        "2026-12-31T23:59:59+08:00", "--occurred-at", "2026-06-01T10:00:00+08:00"]


@pytest.fixture
def math(ready: Cli) -> Cli:
    """The ready ledger with room SR-3 and lot MATH-Q-0001 (exam gaokao-2026) beside LOT-1."""
    ready.ok(*ROOM, *ready.authority())
    ready.register("MATH-Q-0001")
    return ready


def refused(cli: Cli, *args: str, prompt: bool = False) -> str:
    before = cli.db_digest()
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    assert cli.db_digest() == before
    return lines[0]


def test_presence_of_a_mistyped_room_is_refused_not_a_clean_zero(math):
    assert refused(math, "presence", "--room", "SR3") == (
        "error: unknown secure room SR3; did you mean SR-3?")


def test_status_of_a_mistyped_exam_is_refused_not_a_clean_zero(math):
    assert refused(math, "status", "--exam", "gaokao2026") == (
        "error: unknown exam gaokao2026; did you mean gaokao-2026?")


def test_presence_of_a_mistyped_exam_is_refused_not_a_clean_zero(math):
    assert refused(math, "presence", "--exam", "gaokao2026") == (
        "error: unknown exam gaokao2026; did you mean gaokao-2026?")


def test_status_holder_without_its_room_prefix_suggests_the_room(math):
    assert refused(math, "status", "--holder", "SR-3").startswith(
        "error: unknown person SR-3; did you mean room:SR-3 or ")


def test_handover_of_a_lot_one_digit_short_names_the_lot_not_register_it(math):
    """'unknown lot MATH-Q-001: register it first' invited a second, wrong lot."""
    line = refused(math, *math.handover_args(**{"--lot": "MATH-Q-001"}))
    assert line == "error: unknown lot MATH-Q-001; did you mean MATH-Q-0001?"


def test_an_unknown_id_is_refused_before_any_passphrase_is_asked(math):
    args = [a for a in math.handover_args(**{"--lot": "MATH-Q-001"})
            if not a.endswith(".pass") and a != "--passphrase-file"]
    assert "unknown lot MATH-Q-001" in refused(math, *args)


def test_no_similar_id_says_where_to_look(math):
    assert refused(math, "history", "ZZZZZZZZ") == (
        "error: unknown lot ZZZZZZZZ; 'custody status' lists the lots")


def test_case_does_not_hide_the_suggestion(math):
    assert refused(math, "history", "math-q-0001") == (
        "error: unknown lot math-q-0001; did you mean MATH-Q-0001?")


def _team(cli: Cli) -> list[str]:
    return cli.signing(*TEAM)


# Every command that names an existing lot, exam, room, person or holder, each with a typo.
TYPOS = {
    "status LOT": (["status", "MATH-Q-001"], "unknown lot MATH-Q-001; did you mean MATH-Q-0001?"),
    "status --verified LOT": (["status", "MATH-Q-001", "--verified", "--workers", "1"],
                              "unknown lot MATH-Q-001; did you mean"),
    "status --holder": (["status", "--holder", "STF-1"], "unknown person STF-1; did you mean"),
    "history": (["history", "LOT-01"], "unknown lot LOT-01; did you mean LOT-1?"),
    "presence --lot": (["presence", "--lot", "LOT-01"], "unknown lot LOT-01; did you mean"),
    "presence --person": (["presence", "--person", "POL-1"],
                          "unknown person POL-1; did you mean POL-01"),
    "replay --lot": (["replay", "--lot", "LOT-01"], "unknown lot LOT-01; did you mean"),
    "replay --exam": (["replay", "--exam", "gaokao2026"], "unknown exam gaokao2026; did you"),
    "replay --room": (["replay", "--room", "SR3"], "unknown secure room SR3; did you mean SR-3?"),
    "timeline person": (["timeline", "person", "STF-1"], "unknown person STF-1; did you mean"),
    "timeline room": (["timeline", "room", "SR3"], "unknown secure room SR3; did you mean"),
    "report --lot": (["report", "--out", "r.html", "--lot", "LOT-01"], "unknown lot LOT-01;"),
    "report --exam": (["report", "--out", "r.html", "--exam", "gaokao"], "unknown exam gaokao;"),
    "export --lot": (["export", "x.bundle", "--lot", "LOT-01"], "unknown lot LOT-01; did you"),
    "export --exam": (["export", "x.bundle", "--exam", "gaokao"], "unknown exam gaokao; did"),
    "verify --lot": (["verify", "--lot", "LOT-01"], "unknown lot LOT-01; did you mean LOT-1?"),
    "record --from": (["record", "handover", "--lot", "LOT-1", "--from", "STF-1", "--to",
                       "STF-02", "--seal", "SEAL-1", "--count", "30", "--location", "x"],
                      "unknown person STF-1 (--from); did you mean STF-01"),
    "record --to room": (["record", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to",
                          "room:SR3", "--seal", "SEAL-1", "--count", "30", "--location", "x"],
                         "unknown holder room:SR3 (--to); did you mean room:SR-3?"),
    "record store --room": (["record", "store", "--lot", "LOT-1", "--from", "STF-01", "--room",
                             "SR3", "--seal", "SEAL-1", "--count", "30", "--location", "x"],
                            "unknown secure room SR3; did you mean SR-3?"),
    "record --escort": (["record", "transport-depart", "--lot", "LOT-1", "--from", "STF-01",
                         "--vehicle", "V-1", "--escort", "POL-1", "--destination", "SR-3",
                         "--seal", "SEAL-1", "--count", "30", "--location", "x"],
                        "unknown person POL-1 (--escort); did you mean POL-01"),
    "record incident --lot": (["record", "incident", "INC-1", "--what", "torn", "--lot",
                               "LOT-01", "--location", "x"], "unknown lot LOT-01; did you"),
    "duty start --room": (["duty", "start", "--room", "SR3", "--location", "x"],
                          "unknown secure room SR3; did you mean SR-3?"),
    "patrol --room": (["patrol", "--room", "SR3", "--observed", "ok", "--location", "x"],
                      "unknown secure room SR3; did you mean SR-3?"),
    "draft --attendee": (["draft", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to",
                          "STF-02", "--seal", "SEAL-1", "--count", "30", "--location", "x",
                          "--attendee", "POL-1", "--out", "d.draft"],
                         "unknown person POL-1 (--attendee); did you mean POL-01"),
    "lot pack container": (["lot", "pack", "BOX-1", "--lot", "LOT-1", "--location", "x"],
                           "unknown lot BOX-1; did you mean"),
    "lot pack --lot": (["lot", "pack", "LOT-1", "--lot", "LOT-01", "--location", "x"],
                       "unknown lot LOT-01; did you mean LOT-1?"),
    "lot register --holder": (["lot", "register", "NEW-1", "--exam", "gaokao-2026", "--subject",
                               "math", "--kind", "question_paper", "--count", "1", "--seal",
                               "S-9", "--holder", "STF-1", "--location", "x"],
                              "unknown person STF-1; did you mean STF-01"),
    "person revoke": (["person", "revoke", "STF-1", "--reason", "lost"],
                      "unknown person STF-1; did you mean STF-01"),
    "person rotate": (["person", "rotate", "STF-1", "--public-key", "k.pub"],
                      "unknown person STF-1; did you mean STF-01"),
}
SIGNED = {"record --from", "record --to room", "record store --room", "record --escort",
          "record incident --lot", "duty start --room", "patrol --room", "lot pack container",
          "lot pack --lot", "lot register --holder"}
AUTHORITY = {"person revoke", "person rotate"}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_every_command_refuses_an_unknown_id_naming_the_closest(math, case, tmp_path):
    args, message = TYPOS[case]
    if case in SIGNED:
        args = [*args, *_team(math)]
    if case in AUTHORITY:
        args = [*args, *math.authority()]
    if case == "person rotate":  # a new key made for the mistyped id
        write_key_pair(tmp_path / "k", "STF-1", fixed_key("STF-1"), None)
        args = [str(tmp_path / "k.pub") if a == "k.pub" else a for a in args]
    args = [str(tmp_path / a) if a in ("r.html", "x.bundle", "d.draft") else a for a in args]
    line = refused(math, *args)
    assert line.startswith("error: " + message), line
    assert not any((tmp_path / name).exists() for name in ("r.html", "x.bundle", "d.draft"))


def test_only_registration_creates_ids_a_new_lot_and_exam_need_no_suggestion(math):
    math.ok("lot", "register", "NEW-1", "--exam", "gaokao-2027", "--subject", "math",
            "--kind", "question_paper", "--count", "1", "--seal", "S-9", "--holder", "STF-01",
            "--location", "Printing house", "--occurred-at", "2026-06-06T05:40:00+08:00",
            *math.signing(*TEAM))
    assert "NEW-1" in math.ok("status", "--exam", "gaokao-2027").output


def test_a_mistyped_id_in_chinese_is_one_chinese_line(math):
    result = math("--lang", "zh", "presence", "--room", "SR3")
    assert result.exit_code == 2
    assert result.stderr == "错误：未知的保密室 SR3；您是指 SR-3 吗？\n"
