"""Evidence bundles through the CLI: ``custody export`` and ``custody verify-bundle``.

The ledger is real (SQLite, encrypted key files, a log key, a stored checkpoint); the bundle
is then checked with no database, and attacked byte by byte and field by field."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import jsonschema
import msgpack
import pytest

from cli.main import main
from ledger.application.keystore import write_key_pair
from ledger.tlog import bundle as fmt
from tests.cli.conftest import Cli
from tests.conftest import AUTHORITY, TEAM, fixed_key

SHORT_TEAM = TEAM[:-1]  # five people: one staff member short of the policy


def write_log_key(folder: Path) -> Path:
    path = folder / "log.key"
    write_key_pair(path, "cli-ledger", fixed_key("LOG"), None)
    return path


def handover(cli: Cli, lot: str, giver: str, receiver: str, at: str, seals=("SEAL-1", "SEAL-2"),
             team=TEAM, reason: str | None = None) -> None:
    args = ["record", "handover", "--lot", lot, "--from", giver, "--to", receiver,
            "--count", "30", "--location", "Secure room 1", "--occurred-at", at]
    for seal in seals:
        args += ["--seal", seal]
    if reason is not None:
        args += ["--acknowledge-violation", reason]
    cli.ok(*args, *cli.signing(*team))


@pytest.fixture(scope="module")
def exam_day_template(tmp_path_factory, keyring, ready_template) -> Path:
    """LOT-1 with an acknowledged seal mismatch and an acknowledged short presence, LOT-2
    clean, a log key named and a checkpoint covering the head (built once; tests copy it)."""
    cli = Cli(tmp_path_factory.mktemp("exam-day"), keyring, ready_template)
    log_key = write_log_key(cli.folder)
    cli.ok("log", "enable", "--log-key", f"{log_key}.pub", *cli.authority())
    cli.register("LOT-2")
    handover(cli, "LOT-1", "STF-01", "STF-02", "2026-06-06T06:10:00+08:00",
             seals=("SEAL-1", "SEAL-9"), reason="seal SEAL-2 replaced after a tear, photo kept")
    handover(cli, "LOT-1", "STF-02", "STF-03", "2026-06-06T06:40:00+08:00",
             team=SHORT_TEAM, reason="STF-04 called away; five present")
    handover(cli, "LOT-2", "STF-01", "STF-04", "2026-06-06T06:50:00+08:00")
    cli.ok("checkpoint", "--key", str(log_key))
    return cli.db


@pytest.fixture
def log_key(tmp_path) -> Path:
    return write_log_key(tmp_path)


@pytest.fixture
def exam_day(tmp_path, keyring, exam_day_template, log_key) -> Cli:
    """A private copy of the exam day's ledger, with the log key beside it."""
    return Cli(tmp_path, keyring, exam_day_template)


def verify_bundle(cli: Cli, path: Path, *more: str, trust: str | None = None,
                  log_key: str | None = None):
    """verify-bundle against a database path that does not exist: it must need none."""
    result = cli.runner.invoke(
        main,
        ["--db", str(cli.folder / "absent.db"), "verify-bundle", str(path),
         "--trust", trust or cli.key(AUTHORITY) + ".pub",
         "--log-key", log_key or str(cli.folder / "log.key.pub"), *more])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert not (cli.folder / "absent.db").exists()
    return result


def export(cli: Cli, name: str = "lot1.bundle", *selection: str) -> Path:
    path = cli.folder / name
    out = cli.ok("export", str(path), *(selection or ("--lot", "LOT-1"))).output
    assert out.startswith(f"bundle {path}: ")
    return path


def lot_findings(report: dict, stream: str = "lot:LOT-1") -> list[dict]:
    return [f for f in report["findings"] if f["stream"] == stream]


# -- the happy path and "the same findings verify gives" ------------------------------------


def test_a_bundle_for_a_lot_gives_the_findings_verify_gives_for_that_lot(exam_day: Cli) -> None:
    path = export(exam_day)
    verified = json.loads(exam_day("verify", "--lot", "LOT-1", "--json", "--workers", "1").output)
    result = verify_bundle(exam_day, path, "--json")
    bundled = json.loads(result.output)
    expected = lot_findings(verified)
    assert {f["code"] for f in expected} == {"ACKNOWLEDGED_VIOLATION"}
    assert any("SEAL_MISMATCH" in f["message"] for f in expected)
    assert any("PRESENCE_SHORT" in f["message"] for f in expected)
    assert lot_findings(bundled) == expected
    assert result.exit_code == 0 and bundled["intact"] is True  # warnings only
    schema = json.loads(Path("schemas/report.schema.json").read_text())
    jsonschema.validate(bundled, schema)
    part = bundled["bundle"]
    assert part["lots"] == ["LOT-1"] and part["ledger"] == "cli-ledger"
    assert part["proofs_verified"] == part["events"] == bundled["events"]
    # LOT-2 is not in LOT-1's bundle; the roster and the ledger stream are, whole.
    assert "lot:LOT-2" not in {f["stream"] for f in bundled["findings"]}
    assert part["checkpoint"]["size"] == 17


def test_a_clean_bundle_is_intact_in_text(exam_day: Cli) -> None:
    path = export(exam_day, "lot2.bundle", "--lot", "LOT-2")
    result = verify_bundle(exam_day, path)
    assert result.exit_code == 0
    first, last = result.output.splitlines()
    assert first.startswith("checkpoint: cli-ledger, 17 events, root ")
    assert first.endswith(" 14 of 14 inclusion proofs verified")
    assert last.startswith(f"intact: bundle {path}: 14 events, ")


def test_an_exam_bundle_holds_every_lot_of_the_exam(exam_day: Cli) -> None:
    path = export(exam_day, "exam.bundle", "--exam", "gaokao-2026")
    bundle = fmt.parse_bundle(path.read_bytes())
    assert bundle.lots == ("LOT-1", "LOT-2")
    window = export(exam_day, "window.bundle", "--from", "2026-06-06T06:45:00+08:00",
                    "--to", "2026-06-06T07:00:00+08:00")
    assert fmt.parse_bundle(window.read_bytes()).lots == ("LOT-2",)


def test_help_shows_an_example(cli: Cli) -> None:
    for command in ("export", "verify-bundle"):
        result = cli.ok(command, "--help")
        assert "Example" in result.output and f"custody {command} " in result.output


def test_verify_bundle_in_a_fresh_process_in_an_empty_folder_touches_no_database(
        exam_day: Cli, tmp_path: Path) -> None:
    path = export(exam_day)
    empty = tmp_path / "committee"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CUSTODY_DB"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("custody")), "verify-bundle", str(path),
         "--trust", exam_day.key(AUTHORITY) + ".pub",
         "--log-key", str(exam_day.folder / "log.key.pub")],
        cwd=empty, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"intact (with warnings): bundle {path}: ")
    assert list(empty.iterdir()) == []


# -- export refuses ---------------------------------------------------------------------------


def test_export_without_a_log_key_says_to_name_one_and_writes_nothing(ready: Cli) -> None:
    path = ready.folder / "x.bundle"
    result = ready("export", str(path), "--lot", "LOT-1")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "custody log enable" in result.output and "custody checkpoint --key" in result.output
    assert not path.exists()


def test_export_without_a_checkpoint_covering_the_head_says_to_sign_one(
        exam_day: Cli) -> None:
    handover(exam_day, "LOT-2", "STF-04", "STF-01", "2026-06-06T07:10:00+08:00")
    path = exam_day.folder / "x.bundle"
    result = exam_day("export", str(path), "--lot", "LOT-1")
    assert result.exit_code == 2
    assert "no stored checkpoint covers the log's head (18 events)" in result.output
    assert "custody checkpoint --key" in result.output
    assert not path.exists()


@pytest.mark.parametrize("args, message", [
    (["--lot", "NOPE"], "unknown lot NOPE; "),
    (["--exam", "no-such-exam"], "unknown exam no-such-exam; "),
    ([], "export takes one of"),
    (["--lot", "LOT-1", "--exam", "gaokao-2026"], "export takes one of"),
    (["--from", "yesterday"], "--from: time 'yesterday' is not RFC 3339"),
])
def test_export_refuses_a_selection_that_names_nothing(exam_day: Cli, args, message) -> None:
    path = exam_day.folder / "x.bundle"
    result = exam_day("export", str(path), *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not path.exists()


def test_export_never_replaces_a_file(exam_day: Cli) -> None:
    path = exam_day.folder / "kept.bundle"
    path.write_bytes(b"mine")
    result = exam_day("export", str(path), "--lot", "LOT-1")
    assert result.exit_code == 2 and result.stderr == (
        f"error: {path} already exists; choose another file, or give --force to replace it\n")
    assert path.read_bytes() == b"mine"


def test_export_force_that_cannot_write_keeps_the_old_file(exam_day: Cli, monkeypatch) -> None:
    path = exam_day.folder / "kept.bundle"
    path.write_bytes(b"mine")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    result = exam_day("export", str(path), "--lot", "LOT-1", "--force")
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write bundle {path}: No space left on device\n"
    assert path.read_bytes() == b"mine"
    assert sorted(p.name for p in exam_day.folder.iterdir() if "bundle" in p.name) == [
        "kept.bundle"]


def test_export_replaces_a_file_only_with_force(exam_day: Cli) -> None:
    path = exam_day.folder / "kept.bundle"
    path.write_bytes(b"mine")
    exam_day.ok("export", str(path), "--lot", "LOT-1", "--force")
    assert path.read_bytes() != b"mine"
    checked = exam_day.ok("verify-bundle", str(path), "--trust",
                          exam_day.key("AUTH-01") + ".pub", "--log-key",
                          str(exam_day.folder / "log.key.pub"))
    assert checked.output.splitlines()[-1].startswith("intact")


# -- what is trusted --------------------------------------------------------------------------


def test_a_genesis_naming_another_authority_is_untrusted(exam_day: Cli) -> None:
    path = export(exam_day)
    result = verify_bundle(exam_day, path, trust=exam_day.key("POL-01") + ".pub")
    assert result.exit_code == 1
    assert "AUTHORITY_UNTRUSTED" in result.output and "NOT intact" in result.output


def test_a_checkpoint_another_log_key_signed_is_reported(exam_day: Cli) -> None:
    path = export(exam_day)
    result = verify_bundle(exam_day, path, log_key=exam_day.key("STF-01") + ".pub")
    assert result.exit_code == 1
    assert "CHECKPOINT_SIGNATURE_INVALID" in result.output
    assert "is not one the ledger's authority named" in result.output


def test_a_witness_cosignature_travels_with_the_bundle(exam_day: Cli, log_key: Path) -> None:
    note = exam_day.folder / "checkpoint.txt"
    note.write_text(exam_day.ok("checkpoint", "--key", str(log_key)).output)
    cosigned = exam_day.ok("witness", "cosign", str(note), "--key", exam_day.key("INS-01"),
                           "--passphrase-file", exam_day.secret("INS-01"),
                           "--log-key", f"{log_key}.pub", "--state",
                           str(exam_day.folder / "witness"), "--time", "1780000000").output
    (exam_day.folder / "cosigned.txt").write_text(cosigned)
    exam_day.ok("witness", "add", str(exam_day.folder / "cosigned.txt"))
    path = export(exam_day)
    report = json.loads(verify_bundle(exam_day, path, "--json").output)
    assert report["bundle"]["witnesses"] == [{"witness": "INS-01", "time": 1780000000}]


# -- hostile bundles ------------------------------------------------------------------------


def reencode(path: Path, change) -> Path:
    """The bundle's value changed by ``change`` and written back canonically (so it gets
    past the parser to the checks behind it)."""
    value = msgpack.unpackb(path.read_bytes(), raw=False)
    change(value)
    out = path.with_name("changed.bundle")
    out.write_bytes(msgpack.packb(value, use_bin_type=True))
    return out


def stream_of(event: dict) -> str:
    return msgpack.unpackb(event["stored"], raw=False, timestamp=3,
                           ext_hook=lambda code, data: data)["body"]["stream"]


def test_a_lot_step_left_out_is_a_sequence_gap(exam_day: Cli) -> None:
    path = export(exam_day)

    def drop_step_2(value):
        lot = [e for e in value["events"] if stream_of(e) == "lot:LOT-1"]
        value["events"].remove(lot[1])

    result = verify_bundle(exam_day, reencode(path, drop_step_2))
    assert result.exit_code == 1
    assert "SEQUENCE_GAP" in result.output and "lot:LOT-1 goes from step 1 to step 3" in result.output


def test_an_event_whose_proof_is_for_another_index_is_reported(exam_day: Cli) -> None:
    path = export(exam_day)

    def swap_proofs(value):
        a, b = value["events"][3], value["events"][4]
        a["proof"], b["proof"] = b["proof"], a["proof"]

    result = verify_bundle(exam_day, reencode(path, swap_proofs))
    assert result.exit_code == 1
    assert result.output.count("INCLUSION_PROOF_INVALID") == 2


def test_an_event_moved_to_another_index_is_reported(exam_day: Cli) -> None:
    path = export(exam_day)

    def renumber(value):
        value["events"][-1]["index"] += 1

    result = verify_bundle(exam_day, reencode(path, renumber))
    assert result.exit_code == 1 and "INCLUSION_PROOF_INVALID" in result.output


def test_an_event_given_again_under_another_leaf_is_a_duplicate(exam_day: Cli) -> None:
    path = export(exam_day)

    def repeat_last(value):
        copy = dict(value["events"][-1])
        copy["index"] += 1
        value["events"].append(copy)

    result = verify_bundle(exam_day, reencode(path, repeat_last))
    assert result.exit_code == 1
    assert "DUPLICATE_EVENT" in result.output and "INCLUSION_PROOF_INVALID" in result.output


def test_a_lot_the_bundle_names_but_does_not_hold_is_reported(exam_day: Cli) -> None:
    path = export(exam_day)

    def claim_lot_2(value):
        value["lots"] = ["LOT-1", "LOT-2"]

    result = verify_bundle(exam_day, reencode(path, claim_lot_2))
    assert result.exit_code == 1
    assert "the bundle is about lot LOT-2 but holds none of its steps" in result.output


@pytest.mark.parametrize("change, message", [
    (lambda v: v["events"].insert(2, v["events"][2]), "not in log order"),
    (lambda v: v.__setitem__("extra", 1), "unknown fields ['extra']"),
    (lambda v: v["events"][0].__setitem__("note", "x"), "unknown fields ['note']"),
    (lambda v: v.pop("checkpoint"), "lacks the fields ['checkpoint']"),
    (lambda v: v["events"][0].__setitem__("index", "0"), "index '0' is not a leaf index"),
    (lambda v: v["events"][0].__setitem__("stored", "text"), "is a str, not bytes"),
    (lambda v: v["events"][0].__setitem__("proof", [b"short"]), "not a 32-byte hash"),
    (lambda v: v.__setitem__("events", {}), "is a dict, not a list"),
    (lambda v: v.__setitem__("format", "custody-bundle/2"), "not a bundle this version reads"),
    (lambda v: v.__setitem__("lots", ["LOT-1\n"]), "not a lot id"),
])
def test_a_malformed_bundle_is_one_line_and_exit_2(exam_day: Cli, change, message) -> None:
    path = export(exam_day)

    def apply(value):
        change(value)
        if isinstance(value, dict):  # keep the keys sorted: the field itself is the fault
            items = sorted(value.items())
            value.clear()
            value.update(items)
            for e in value.get("events", []) if isinstance(value.get("events"), list) else []:
                if isinstance(e, dict):
                    ordered = sorted(e.items())
                    e.clear()
                    e.update(ordered)

    result = verify_bundle(exam_day, reencode(path, apply))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: bundle ") and result.output.count("\n") == 1
    assert message in result.output


def test_truncated_and_empty_bundles_are_one_line_errors(exam_day: Cli) -> None:
    data = export(exam_day).read_bytes()
    for length in (0, 1, 10, len(data) // 2, len(data) - 1):
        cut = exam_day.folder / f"cut-{length}.bundle"
        cut.write_bytes(data[:length])
        result = verify_bundle(exam_day, cut)
        assert result.exit_code == 2, (length, result.output)
        assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_bytes_after_the_bundle_are_refused(exam_day: Cli) -> None:
    path = export(exam_day)
    path.write_bytes(path.read_bytes() + b"\x00")
    result = verify_bundle(exam_day, path)
    assert result.exit_code == 2 and "not a msgpack value" in result.output


def test_an_oversized_file_is_refused_before_it_is_read(exam_day: Cli) -> None:
    path = exam_day.folder / "huge.bundle"
    with open(path, "wb") as handle:  # sparse: no disk space used
        handle.truncate(fmt.MAX_BUNDLE + 1)
    result = verify_bundle(exam_day, path)
    assert result.exit_code == 2
    assert f"over the {fmt.MAX_BUNDLE} byte limit" in result.output


def test_a_flipped_byte_anywhere_is_never_intact_and_never_a_traceback(exam_day: Cli) -> None:
    path = export(exam_day)
    data = path.read_bytes()
    value = msgpack.unpackb(data, raw=False)
    note = value["checkpoint"]
    event = value["events"][-1]
    # Where the interesting parts lie: the header, an event's stored bytes, a proof hash, the
    # checkpoint note (its text and its signature); and a spread sample of the rest.
    targets = {0, 1, 2, 3, len(data) - 1}
    for part in (note[:40], note[-40:], event["stored"][:48], event["stored"][-48:],
                 event["proof"][0], b"custody-bundle/1"):
        start = data.find(part)
        assert start >= 0
        targets |= {start, start + len(part) // 2, start + len(part) - 1}
    targets |= set(random.Random(13).sample(range(len(data)), 150))
    outcomes = {}
    for offset in sorted(targets):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        changed = exam_day.folder / "flipped.bundle"
        changed.write_bytes(bytes(flipped))
        result = verify_bundle(exam_day, changed)
        assert result.exit_code in (1, 2), (offset, result.output)
        assert not result.output.splitlines()[-1].startswith("intact"), (offset, result.output)
        if result.exit_code == 2:
            assert result.output.startswith("error: ") and result.output.count("\n") == 1
        outcomes[offset] = result.exit_code
    assert set(outcomes.values()) == {1, 2}  # some reach the checks, some the parser


def test_the_parallel_path_gives_the_same_report(exam_day: Cli, monkeypatch) -> None:
    from ledger.verify import bundle as checking

    path = export(exam_day)

    def drop_step_2(value):
        lot = [e for e in value["events"] if stream_of(e) == "lot:LOT-1"]
        value["events"].remove(lot[1])
        value["events"][5]["proof"][0] = bytes(32)

    changed = reencode(path, drop_step_2)
    alone = verify_bundle(exam_day, changed, "--json", "--workers", "1")
    monkeypatch.setattr(checking, "PARALLEL_FROM", 2)
    pooled = verify_bundle(exam_day, changed, "--json", "--workers", "2")
    assert alone.exit_code == pooled.exit_code == 1
    assert json.loads(alone.output) == json.loads(pooled.output)
    codes = {f["code"] for f in json.loads(pooled.output)["findings"]}
    assert {"SEQUENCE_GAP", "INCLUSION_PROOF_INVALID"} <= codes


@pytest.mark.slow
def test_every_single_byte_flipped_is_reported(exam_day: Cli, capsys) -> None:
    """Every byte of a bundle, each flipped on its own (in process: parse, then verify):
    each is a parse error (InputError) or a report that is not intact. Slow: ~10k runs."""
    from ledger.application.keystore import read_public_key
    from ledger.core.errors import InputError
    from ledger.verify.bundle import verify_bundle as check

    data = export(exam_day).read_bytes()
    trust = read_public_key(Path(exam_day.key(AUTHORITY) + ".pub"))[0].raw
    log = read_public_key(exam_day.folder / "log.key.pub")[0].raw
    refused = reported = 0
    for offset in range(len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        try:
            bundle = fmt.parse_bundle(bytes(flipped))
        except InputError:
            refused += 1
            continue
        assert not check(bundle, trust, log).report.intact, offset
        reported += 1
    with capsys.disabled():
        print(f"\n{len(data)} bytes flipped one at a time: {refused} refused by the parser, "
              f"{reported} reported as not intact, 0 intact")


def test_verify_bundle_in_chinese_keeps_codes_and_values(exam_day: Cli) -> None:
    path = export(exam_day)
    result = exam_day.runner.invoke(
        main, ["--lang", "zh", "--db", str(exam_day.folder / "absent.db"), "verify-bundle",
               str(path), "--trust", exam_day.key(AUTHORITY) + ".pub",
               "--log-key", str(exam_day.folder / "log.key.pub")])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("检查点：cli-ledger，17 个事件，根哈希 ")
    assert lines[0].endswith("；15 个包含证明中已验证 15 个")
    assert lines[-1].startswith(f"完整（有警告）：证据包 {path}：")
    findings = [line for line in lines[1:-1] if "ACKNOWLEDGED_VIOLATION" in line]
    assert len(findings) == 3 and all(line.startswith("警告") for line in findings)
    assert any("SEAL_MISMATCH 已在记录中确认（seal SEAL-2 replaced after a tear, photo kept）"
               in line for line in findings)
    assert not (exam_day.folder / "absent.db").exists()
