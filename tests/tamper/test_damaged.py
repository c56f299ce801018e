"""A damaged ledger never crashes a read command.

Each attack of the table below damages one row of the exam day (the genesis, an enrolment, a
lot's registration or one of its handovers) the way a broken disk, a bad restore or an
attacker with the sqlite3 shell might: a column set to NULL, to text, to garbage bytes or to
another row's value; a version bumped or repeated; a topic naming a class that does not
exist; a row deleted or copied. Then every read command runs on it: ``history`` of every lot,
``status``, ``verify`` and ``verify --json``. None may end in a traceback: ``verify`` prints
its report (exit 1), ``verify --json`` a report in the documented shape, and ``history`` and
``status`` either their output or one ``error:`` line that names the damaged stream or
position and points to ``custody verify`` (exit 5).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Callable

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from cli.main import main
from tests.tamper.attacker import Attacker

REPORT_SCHEMA = Draft202012Validator(
    json.loads(resources.files("schemas").joinpath("report.schema.json").read_text()))
# The rows attacked: (stream, version) of the genesis, an enrolment, a lot's first step and
# a step in the middle of a lot.
TARGETS = {
    "genesis": ("ledger", 1),
    "enrolment": ("person:STF-04", 1),
    "registration": ("lot:LOT-1", 1),
    "handover": ("lot:LOT-1", 2),
}
# What `history` of LOT-1 must name when it refuses a damaged target (an enrolment's damage
# does not touch LOT-1's own rows: history may show them, the verifier reports it).
HISTORY_NAMES = {"genesis": "ledger", "registration": "lot:LOT-1", "handover": "lot:LOT-1"}
GARBAGE = b"\x00\xff\xc1garbage\x92"
Attack = Callable[[Attacker, int], None]


def _set(column: str, value: object) -> Attack:
    return lambda attacker, position: attacker.set_column(position, column, value) \
        if column != "state" else attacker.set_state(position, value)


def _other_rows(column: str) -> Attack:
    """The column takes the value the last row of the log with another value there holds."""
    def attack(attacker: Attacker, position: int) -> None:
        attacker.drop_primary_key()  # the value may repeat another row's (stream, version)
        field = {"originator_id": "stream", "originator_version": "version"}.get(column, column)
        mine = getattr(attacker.row(position), field)
        value = [getattr(r, field) for r in attacker.rows() if getattr(r, field) != mine][-1]
        _set(column, value)(attacker, position)
    return attack


def _version(change: int) -> Attack:
    def attack(attacker: Attacker, position: int) -> None:
        attacker.drop_primary_key()
        attacker.set_column(position, "originator_version", attacker.row(position).version + change)
    return attack


def _state_as_text(attacker: Attacker, position: int) -> None:
    attacker.execute(("UPDATE stored_events SET state = CAST(state AS TEXT) WHERE rowid = ?",
                      (position,)))


def _delete(attacker: Attacker, position: int) -> None:
    attacker.delete(position)


def _copy_to(where: int | None) -> Attack:
    def attack(attacker: Attacker, position: int) -> None:
        attacker.drop_primary_key()
        row = attacker.row(position)
        attacker.insert(row.stream, row.version, row.topic, row.state, position=where)
    return attack


ATTACKS: dict[str, Attack] = {
    **{f"{column}_null": _set(column, None) for column in
       ("originator_id", "originator_version", "topic", "state")},
    **{f"{column}_text": _set(column, "not what belongs here") for column in
       ("originator_id", "originator_version", "topic", "state")},
    **{f"{column}_garbage_bytes": _set(column, GARBAGE) for column in
       ("originator_id", "originator_version", "topic", "state")},
    **{f"{column}_of_another_row": _other_rows(column) for column in
       ("originator_id", "originator_version", "topic", "state")},
    "state_cast_to_text": _state_as_text,
    "originator_version_huge": _set("originator_version", 2**62),
    "originator_version_negative": _set("originator_version", -1),
    "version_bumped": _version(+1),
    "version_repeated": _version(-1),
    "topic_unknown_class": _set("topic", "ledger.domain.events:NoSuchEvent"),
    "topic_unknown_module": _set("topic", "no.such.module:Event"),
    "topic_not_an_event": _set("topic", "ledger.core.errors:StorageError"),
    "row_deleted": _delete,
    "row_copied_to_the_end": _copy_to(None),
    "row_copied_to_position_0": _copy_to(0),
    "row_copied_to_position_-5": _copy_to(-5),
}


def _no_traceback(result: Result) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback: {result.exception!r}\n{result.output}") \
            from result.exception


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 5, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "custody verify" in lines[0], lines[0]
    assert result.stdout == "", result.stdout  # nothing half-shown before the error
    return lines[0]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_read_commands_survive_a_damaged_row(attacker: Attacker, attack: str,
                                             target: str) -> None:
    position = attacker.position(*TARGETS[target])
    ATTACKS[attack](attacker, position)
    runner = CliRunner()

    def run(*args: str) -> Result:
        result = runner.invoke(main, ["--db", str(attacker.db), *args])
        _no_traceback(result)
        return result

    as_json = run("verify", "--json", "--workers", "1")
    assert as_json.exit_code == 1, (as_json.exit_code, as_json.output)
    report = json.loads(as_json.stdout)
    REPORT_SCHEMA.validate(report)
    assert report["intact"] is False
    errors = {f["position"] for f in report["findings"] if f["severity"] == "error"}
    damaged = {"row_deleted": position + 1, "row_copied_to_position_0": 0,
               "row_copied_to_position_-5": -5, "row_copied_to_the_end": 18}.get(attack, position)
    assert damaged in errors, (damaged, report["findings"])

    text = run("verify", "--workers", "1")
    assert text.exit_code == 1, (text.exit_code, text.output)
    assert text.stdout.rstrip().splitlines()[-1].startswith("NOT intact:")

    status = run("status", "--workers", "1")
    if status.exit_code != 0:
        _one_error_line(status)
    else:
        assert "NOT intact" in status.stdout.splitlines()[-1]

    for lot_id in ("LOT-1", "LOT-2"):
        history = run("history", lot_id)
        if lot_id == "LOT-1" and target in HISTORY_NAMES:
            assert HISTORY_NAMES[target] in _one_error_line(history)
        elif history.exit_code != 0:
            line = _one_error_line(history)
            assert "ledger" in line or "lot:" in line or "person:" in line, line


def test_history_refuses_a_step_that_holds_another_lots_body(attacker: Attacker) -> None:
    """LOT-1's first handover is overwritten with LOT-2's: every byte decodes and every
    signature verifies, so only the row's own columns and the chain give it away."""
    step = attacker.position("lot:LOT-1", 2)
    attacker.set_state(step, attacker.row(attacker.position("lot:LOT-2", 2)).state)

    result = CliRunner().invoke(main, ["--db", str(attacker.db), "history", "LOT-1"])

    line = _one_error_line(result)
    assert line == (f"error: the ledger is damaged at position {step} (lot:LOT-1): "
                    "ENVELOPE_MISMATCH: lot:LOT-1 step 2: stored under stream lot:LOT-1, body "
                    "says lot:LOT-2; run 'custody verify' for details")
    assert result.stdout == ""


def test_a_state_stored_as_text_is_reported_not_a_crash(attacker: Attacker) -> None:
    """Python's sqlite3 cannot fetch TEXT that is not UTF-8; the row is read leniently and
    reported as not canonical."""
    step = attacker.position("lot:LOT-1", 2)
    _state_as_text(attacker, step)
    runner = CliRunner()

    as_json = runner.invoke(main, ["--db", str(attacker.db), "verify", "--json", "--workers", "2"])
    status = runner.invoke(main, ["--db", str(attacker.db), "status", "--workers", "1"])

    assert as_json.exit_code == 1, as_json.output
    findings = json.loads(as_json.stdout)["findings"]
    assert ("NON_CANONICAL", step, "lot:LOT-1") in {
        (f["code"], f["position"], f["stream"]) for f in findings}
    assert status.exit_code == 0, status.output
    assert status.stdout.splitlines()[-1].startswith("2 lot(s) as of log position ")
    assert "error(s) and 0 warning(s) on record; the ledger is NOT intact" in \
        status.stdout.splitlines()[-1]


def test_history_names_a_genesis_stored_under_another_version(attacker: Attacker) -> None:
    attacker.set_column(1, "originator_version", 2)

    result = CliRunner().invoke(main, ["--db", str(attacker.db), "history", "LOT-1"])

    assert _one_error_line(result) == (
        "error: the ledger is damaged at position 1 (ledger): ENVELOPE_MISMATCH: ledger step 2: "
        "stored as version 2, body says step 1; run 'custody verify' for details")
