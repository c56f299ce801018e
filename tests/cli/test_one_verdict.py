"""One verdict everywhere: ``status`` never contradicts ``verify``, and every read command's
``--json`` is one object with its log position, its verdict fields and its rows, following
its schema in ``schemas/``."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cli.main import main
from tests.conftest import TEAM

BASE = "https://custody-ledger.example/schemas/"


def validator(name: str) -> Draft202012Validator:
    """The schema ``schemas/NAME.schema.json``, with the others to resolve references."""
    root = resources.files("schemas")
    documents = {entry.name: json.loads(entry.read_text("utf-8"))
                 for entry in root.iterdir() if entry.name.endswith(".schema.json")}
    registry: Registry = Registry().with_resources(
        (BASE + file, Resource.from_contents(doc)) for file, doc in documents.items())
    schema = documents[f"{name}.schema.json"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def a_room_left_short(ready) -> None:
    """SR-3 holds LOT-1 while a duty shift of four drops to three: one DUTY_UNCOVERED."""
    ready.ok("room", "register", "SR-3", "--name", "County room 3", "--licence", "BM-31",
             "--valid-from", "2026-01-01T00:00:00+08:00",
             "--valid-until", "2026-12-31T00:00:00+08:00",
             "--occurred-at", "2026-06-05T08:00:00+08:00", *ready.authority())
    ready.ok("duty", "start", "--room", "SR-3", "--location", "SR-3",
             "--occurred-at", "2026-06-06T05:00:00+08:00",
             *ready.signing("POL-01", "POL-02", "STF-05", "STF-06"))
    ready.ok("record", "store", "--lot", "LOT-1", "--from", "STF-01", "--room", "SR-3",
             "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "SR-3",
             "--occurred-at", "2026-06-06T06:00:00+08:00", *ready.signing(*TEAM))
    ready.ok("duty", "end", "--room", "SR-3", "--location", "SR-3",
             "--occurred-at", "2026-06-06T07:00:00+08:00", *ready.signing("STF-06"))


def test_status_says_the_errors_verify_reports_and_status_verified_exits_1(ready) -> None:
    a_room_left_short(ready)
    verify = ready("verify", "--json")
    assert verify.exit_code == 1
    report = json.loads(verify.stdout)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["DUTY_UNCOVERED"]

    plain = ready.ok("status").stdout.splitlines()[-1]
    assert "1 error(s) and 0 warning(s) on record; the ledger is NOT intact — run " \
           "'custody verify'" in plain
    assert "no error" not in plain
    data = json.loads(ready.ok("status", "--json").stdout)
    assert (data["intact"], data["errors"], data["verified"]) == (False, 1, False)
    assert data["log_position"] == report["log_position"]

    verified = ready("status", "--verified")
    assert verified.exit_code == 1, verified.output
    assert "the ledger is NOT intact (1 error(s))" in verified.stdout
    verified_json = ready("status", "--verified", "--json")
    assert verified_json.exit_code == 1
    assert json.loads(verified_json.stdout)["intact"] is False


def test_status_of_an_intact_ledger_says_no_error_and_verified_exits_0(ready) -> None:
    ready.ok(*ready.handover_args())
    assert "no error on record, 0 warning(s)" in ready.ok("status").stdout.splitlines()[-1]
    assert json.loads(ready.ok("status", "--verified", "--json").stdout)["intact"] is True


@pytest.fixture
def busy(logged, log_key: Path, tmp_path: Path):
    """The logged ledger with a room left short, a handover with a receipt, a checkpoint
    and an exported bundle of LOT-1."""
    a_room_left_short(logged)
    logged.ok("record", "retrieve", "--lot", "LOT-1", "--room", "SR-3", "--to", "STF-02",
              "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "SR-3",
              "--occurred-at", "2026-06-06T08:00:00+08:00", *logged.signing(*TEAM))
    receipt = tmp_path / "handover.proof"
    recorded = logged.runner.invoke(
        main, ["--db", str(logged.db), *logged.handover_args(
            **{"--from": "STF-02", "--to": "STF-03",
               "--occurred-at": "2026-06-06T08:30:00+08:00"}), "--receipt", str(receipt)],
        env={"CUSTODY_LOG_KEY": str(log_key)})
    assert recorded.exit_code == 0, recorded.output
    logged.ok("export", str(tmp_path / "lot.bundle"), "--lot", "LOT-1")
    return logged, receipt, tmp_path / "lot.bundle", log_key


def test_every_read_commands_json_is_one_object_with_log_position_and_its_schema(busy) -> None:
    ledger, receipt, bundle, log_key = busy
    authority = ledger.key("AUTH-01") + ".pub"
    commands = {
        "status": ["status", "--json"],
        "history": ["history", "LOT-1", "--json"],
        "presence": ["presence", "--room", "SR-3", "--json"],
        "replay": ["replay", "--lot", "LOT-1", "--json"],
        "timeline": ["timeline", "room", "SR-3", "--json"],
        "projections-status": ["projections", "status", "--json"],
        "check-receipt": ["check-receipt", str(receipt), "--json"],
        "verify-bundle": ["verify-bundle", str(bundle), "--trust", authority,
                          "--log-key", f"{log_key}.pub", "--json"],
        "report": ["verify", "--json"],
    }
    head = json.loads(ledger("projections", "status", "--json").stdout)["head"]
    # The verdict each gives: the duty gap is the one error on record, at the duty end; the
    # lot's own steps carry none.
    errors = {"status": 1, "history": 0, "presence": 1, "replay": 0, "timeline": 1,
              "projections-status": 1}
    for schema, args in commands.items():
        result = ledger(*args)
        data = json.loads(result.stdout)
        assert isinstance(data, dict), schema
        validator(schema).validate(data)
        assert data["log_position"] == head, schema
        assert data.get("errors") == errors.get(schema), schema
    person = json.loads(ledger.ok("timeline", "person", "STF-06", "--json").stdout)
    validator("timeline").validate(person)
    verified = ledger("status", "--verified", "--json")
    assert verified.exit_code == 1
    status = json.loads(verified.stdout)
    validator("status").validate(status)
    assert (status["verified"], status["log_position"], status["errors"]) == (True, head, 1)
    history = json.loads(ledger("history", "LOT-1", "--json").stdout)
    assert [s["type"] for s in history["steps"]] == [
        "lot.registered", "lot.stored", "lot.retrieved", "lot.handed_over"]
    assert [s["body"]["seq"] for s in history["steps"]] == [1, 2, 3, 4]


def test_projections_status_json_before_any_view(ready) -> None:
    data = json.loads(ready.ok("projections", "status", "--json").stdout)
    validator("projections-status").validate(data)
    assert data["head"] >= 1
