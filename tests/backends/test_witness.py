"""Witnesses on both backends: a rewritten history is a fork the next cosignature refuses,
stored cosignatures are the ledger's independent time evidence, only inspectors witness."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.keystore import write_key_pair
from ledger.application.log import TransparencyLog
from ledger.tlog.checkpoint import Checkpoint, Cosigner
from ledger.core.errors import KeyringError
from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey, parse_note
from ledger.tlog.witness import cosign
from ledger.verify.log import Evidence
from tests.backends.test_log_tamper import LOG, codes, sql
from tests.backends.verifying import verified
from tests.conftest import AUTHORITY, LEDGER_ID, World, fixed_key

LOG_VERIFIER = Ed25519Verifier(VerifierKey(LEDGER_ID, SIG_ED25519, LOG.key.public_key.raw))


@pytest.fixture
def logged(day: World) -> World:
    day.app.set_log_key(LOG.key.public_key, day.signers[AUTHORITY], day.clock.now)
    return day


def cosigned(note: bytes, witness: str, at: int) -> bytes:
    return cosign(note, LOG_VERIFIER, Cosigner(witness, fixed_key(witness), at))[1]


def seconds(world: World) -> int:
    return int(world.clock.now.timestamp())


def test_an_event_backdated_before_a_witnessed_checkpoint_is_outside_the_witness_window(
        logged: World) -> None:
    tlog = TransparencyLog(logged.app)
    note = tlog.sign_checkpoint(LOG)
    witnessed_at = seconds(logged) + 1000
    tlog.add_cosignatures(cosigned(note, "INS-01", witnessed_at))
    # The operator's clock is set back: the next step claims a time before the witness saw
    # a checkpoint that does not hold it (but after every earlier step: no reversal).
    logged.clock.now += timedelta(seconds=500)
    receipt = logged.handover("LOT-1", "STF-03", "STF-04")
    tlog.sign_checkpoint(LOG)
    db = str(logged.db)
    logged.app.close()
    assert codes(db) == ["RECORDED_AT_OUTSIDE_WITNESS_WINDOW"]
    reader_findings = _findings(db)
    assert [(f.position, f.stream) for f in reader_findings] == [(receipt.position, "lot:LOT-1")]


def test_an_honest_step_after_the_witness_cosigned_is_inside_the_window(logged: World) -> None:
    tlog = TransparencyLog(logged.app)
    note = tlog.sign_checkpoint(LOG)
    tlog.add_cosignatures(cosigned(note, "INS-01", seconds(logged) + 10))
    logged.clock.now += timedelta(seconds=20)
    logged.handover("LOT-1", "STF-03", "STF-04")
    db = str(logged.db)
    logged.app.close()
    assert codes(db) == []


def test_events_postdated_after_the_witness_saw_them_are_outside_the_witness_window(
        logged: World) -> None:
    tlog = TransparencyLog(logged.app)
    first = logged.handover("LOT-1", "STF-03", "STF-04")
    note = tlog.sign_checkpoint(LOG)
    # The witness saw the checkpoint 5 s before the last steps it holds claim to be recorded.
    tlog.add_cosignatures(cosigned(note, "INS-01", seconds(logged) - 5))
    db = str(logged.db)
    logged.app.close()
    found = _findings(db)
    assert {f.code for f in found} == {"RECORDED_AT_OUTSIDE_WITNESS_WINDOW"}
    assert first.position in {f.position for f in found}
    assert all("later than" in f.message for f in found)


def test_a_cosignature_by_a_non_inspector_is_refused_and_nothing_stored(logged: World) -> None:
    tlog = TransparencyLog(logged.app)
    note = tlog.sign_checkpoint(LOG)
    with pytest.raises(KeyringError, match="POL-01 is a police, not an inspector"):
        tlog.add_cosignatures(cosigned(note, "POL-01", seconds(logged)))
    assert [n for _, _, n in tlog.stored_checkpoints()] == [note]


def test_a_stored_cosignature_with_a_flipped_bit_is_checkpoint_signature_invalid(
        logged: World, raw) -> None:
    tlog = TransparencyLog(logged.app)
    note = tlog.sign_checkpoint(LOG)
    tlog.add_cosignatures(cosigned(note, "INS-01", seconds(logged) + 10))
    stored = tlog.stored_checkpoints()[0][2]
    db = str(logged.db)
    logged.app.close()
    flipped = bytearray(stored)
    # One base64 letter of the last line (the cosignature's Ed25519 signature) changed.
    flipped[-10] = ord("A") if flipped[-10] != ord("A") else ord("B")
    flipped = bytes(flipped)
    if parse_note(flipped)[1][-1].name != "INS-01":
        pytest.fail("the flipped line is not the cosignature")
    table = "custody_checkpoints" if raw.postgres else "checkpoints"
    sql(db, f"UPDATE {table} SET note = ?", (flipped,))
    assert codes(db) == ["CHECKPOINT_SIGNATURE_INVALID"]


def test_an_old_event_rewritten_and_recheckpointed_is_a_fork_the_witness_refuses(
        logged: World, raw, tmp_path: Path) -> None:
    tlog = TransparencyLog(logged.app)
    old_note = tlog.sign_checkpoint(LOG)
    db = str(logged.db)
    keys = tmp_path / "keys"
    keys.mkdir()
    write_key_pair(keys / "ins.key", "INS-01", fixed_key("INS-01"), None)
    write_key_pair(keys / "log.key", LEDGER_ID, fixed_key("LOG"), None)
    state = tmp_path / "witness"
    (tmp_path / "old.txt").write_bytes(old_note)
    runner = CliRunner()

    def witness(note: Path, *extra: str):
        return runner.invoke(main, ["witness", "cosign", str(note), "--key",
                                    str(keys / "ins.key"), "--log-key",
                                    str(keys / "log.key.pub"), "--state", str(state),
                                    "--time", str(seconds(logged)), *extra])

    assert witness(tmp_path / "old.txt").exit_code == 0
    # Whoever holds the database and the log key rewrites LOT-1's registration, has the tree
    # recomputed from the rewritten rows, and signs a checkpoint over the result.
    sql(db, f"UPDATE {raw.table} SET state = ? WHERE originator_id = 'lot:LOT-1' AND "
            "originator_version = 3", (raw.state("lot:LOT-2", 3),))
    prefix = "custody_" if raw.postgres else ""
    for table in ("tree_hashes", "tree_leaves"):
        sql(db, f"DELETE FROM {prefix}{table}")
    logged.register("LOT-3")
    new_note = tlog.sign_checkpoint(LOG)
    logged.app.close()
    (tmp_path / "new.txt").write_bytes(new_note)
    old_size = Checkpoint.parse(parse_note(old_note)[0]).size
    new_size = Checkpoint.parse(parse_note(new_note)[0]).size
    proof = runner.invoke(main, ["--db", db, "prove", "--consistency", str(old_size),
                                 str(new_size), "--json"])
    assert proof.exit_code == 0, proof.output
    (tmp_path / "proof.json").write_text(proof.output)

    refused = witness(tmp_path / "new.txt", "--proof", str(tmp_path / "proof.json"))
    assert refused.exit_code == 1
    assert refused.output.startswith("error: fork: checkpoint of size ")
    stem = state / f"fork-{LEDGER_ID}-{old_size}-{new_size}"
    assert Path(f"{stem}.old.checkpoint").read_bytes() == old_note
    assert Path(f"{stem}.new.checkpoint").read_bytes() == new_note
    # The ledger's own copies gone, the two checkpoints the witness kept still show the fork.
    sql(db, f"DELETE FROM {prefix}checkpoints")
    evidence = [Evidence("old.checkpoint", old_note), Evidence("new.checkpoint", new_note)]
    assert "CHECKPOINT_INCONSISTENT" in codes(db, evidence)


def _findings(db: str):
    return verified(db)


@pytest.fixture
def genesis_witnessed(backend: str):
    """A ledger whose genesis names DIO-01 as a witness (never enrolled), with a log key and
    a lot, on this test's backend."""
    from tests.conftest import PEOPLE, TEAM, build_world

    world = build_world(backend, witnesses={"DIO-01": fixed_key("DIO-01").public_key},
                        people={p: PEOPLE[p] for p in TEAM})
    app, clock = world.app, world.clock
    app.set_log_key(LOG.key.public_key, world.signers[AUTHORITY], clock.now)
    world.register("LOT-1")
    yield world
    world.app.close()


def test_a_genesis_witness_cosignature_is_stored_and_counts_in_verify(
        genesis_witnessed: World) -> None:
    world = genesis_witnessed
    tlog = TransparencyLog(world.app)
    note = tlog.sign_checkpoint(LOG)
    (stored,) = tlog.add_cosignatures(cosigned(note, "DIO-01", seconds(world) + 1000))
    assert stored.witness == "DIO-01"
    assert [s.name for s in parse_note(tlog.stored_checkpoints()[0][2])[1]] == [
        LEDGER_ID, "DIO-01"]
    # A step whose clock was set back before the time DIO-01 saw the checkpoint.
    world.clock.now += timedelta(seconds=500)
    receipt = world.handover("LOT-1", "STF-01", "STF-02")
    db = str(world.db)
    world.app.close()
    (finding,) = _findings(db)
    assert (finding.code, finding.position) == ("RECORDED_AT_OUTSIDE_WITNESS_WINDOW",
                                                receipt.position)
    assert finding.evidence["witness"] == "DIO-01"


def test_a_cosignature_by_a_witness_the_genesis_did_not_name_is_refused(
        genesis_witnessed: World) -> None:
    tlog = TransparencyLog(genesis_witnessed.app)
    note = tlog.sign_checkpoint(LOG)
    with pytest.raises(KeyringError, match="DIO-02 is neither enrolled nor a witness named "
                                           "in the genesis"):
        tlog.add_cosignatures(cosigned(note, "DIO-02", seconds(genesis_witnessed)))
    assert [n for _, _, n in tlog.stored_checkpoints()] == [note]
