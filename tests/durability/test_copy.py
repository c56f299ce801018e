"""``custody copy --from DB --to DB``: SQLite to PostgreSQL and back, identical event hash for
event hash; a non-empty target, the same database twice, or a source without a ledger is
refused with one line and nothing written."""

from __future__ import annotations

import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.core import digests
from ledger.verify import Verifier
from tests.conftest import build_world
from tests.durability import ledger
from tests.durability.faults import rows
from tests.unit.test_exam_day import exam_day

ROOT = Path(__file__).resolve().parents[2]


def copy(source: str, target: str):
    return CliRunner().invoke(main, ["copy", "--from", source, "--to", target])


def hashes(db: str) -> list[tuple[str, int, str]]:
    """(stream, version, event hash) of every event, in log order."""
    with closing(open_ledger(db)) as app:
        found, start = [], 1
        while page := app.recorder.select_notifications(start=start, limit=5000):
            found += [(n.originator_id, n.originator_version,
                       digests.event_hash_of_bytes(bytes(n.state)).hex()) for n in page]
            start = page[-1].id + 1
        return found


def intact(db: str) -> bool:
    with closing(open_ledger(db)) as app:
        return Verifier(app.recorder, workers=2).run().intact


def round_trip(origin: str, postgres_db: str, back: str) -> list[tuple[str, int, str]]:
    """SQLite -> PostgreSQL -> SQLite; every copy says identical and verifies intact."""
    expected = hashes(origin)
    for source, target in ((origin, postgres_db), (postgres_db, back)):
        result = copy(source, target)
        assert result.exit_code == 0, result.output
        assert f"copied {len(expected)} events from" in result.output
        assert "identical, event hash for event hash" in result.output
        assert hashes(target) == expected
        assert intact(target)
    return expected


@pytest.mark.postgres
def test_exam_day_copies_to_postgres_and_back_identically(tmp_path: Path, postgres_db: str) -> None:
    world = exam_day(build_world(tmp_path / "exam-day.db"))
    world.app.close()
    expected = round_trip(str(tmp_path / "exam-day.db"), postgres_db, str(tmp_path / "back.db"))
    assert len(expected) > 40
    # Byte for byte, row for row, in the same positions (neither side skipped a number).
    assert rows(str(tmp_path / "back.db")) == rows(str(tmp_path / "exam-day.db"))


def test_a_non_empty_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    ledger.create(source, ["LOT-1"])
    ledger.create(target, ["LOT-2"])
    before = rows(target)
    result = copy(source, target)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: --to {target} already holds {len(before)} events; a ledger is copied only "
        "into an empty database"]
    assert rows(target) == before


def test_the_same_database_twice_is_refused(tmp_path: Path) -> None:
    source = str(tmp_path / "a.db")
    ledger.create(source, ["LOT-1"])
    result = copy(source, source)
    assert (result.exit_code, result.output) == (
        2, "error: --from and --to name the same database\n")


def test_a_source_without_a_ledger_is_refused_and_no_target_is_made(tmp_path: Path) -> None:
    result = copy(str(tmp_path / "missing.db"), str(tmp_path / "new.db"))
    assert result.exit_code == 5
    assert result.output.startswith(f"error: no ledger at {tmp_path / 'missing.db'}")
    assert not (tmp_path / "new.db").exists()


@pytest.mark.postgres
def test_copy_closes_postgres_sequence_gaps_so_sqlite_verifies(tmp_path: Path,
                                                              postgres_db: str) -> None:
    ledger.create(postgres_db, ["LOT-1"])
    # A rolled-back insert (a lost race, a crash) takes a sequence number that no row gets.
    with closing(psycopg.connect(postgres_db)) as connection:
        connection.execute("INSERT INTO custody_events (originator_id, originator_version, "
                           "topic, state) VALUES ('lot:NONE', 1, 't', '')")
        connection.rollback()
    with closing(open_ledger(postgres_db)) as app:
        ledger.handover(app, "LOT-1", "after-the-gap")
    positions = [row[0] for row in rows(postgres_db)]
    assert positions[-1] == positions[-2] + 2  # the gap
    target = str(tmp_path / "copy.db")
    result = copy(postgres_db, target)
    assert result.exit_code == 0, result.output
    assert "positions renumbered without the source's gaps" in result.output
    assert [row[0] for row in rows(target)] == list(range(1, len(positions) + 1))
    assert hashes(target) == hashes(postgres_db)
    assert intact(target)


@pytest.mark.slow
@pytest.mark.postgres
def test_100k_event_ledger_copies_to_postgres_and_back_identically(tmp_path: Path,
                                                                   postgres_db: str) -> None:
    origin = tmp_path / "ledger-100k.db"
    subprocess.run([sys.executable, "bench/generate.py", "--events", "100000", "--db",
                    str(origin)], cwd=ROOT, check=True, capture_output=True, timeout=3600)
    expected = round_trip(str(origin), postgres_db, str(tmp_path / "back.db"))
    assert len(expected) == 100_000
    assert rows(str(tmp_path / "back.db")) == rows(str(origin))


def test_a_copy_that_fills_the_disk_halfway_leaves_the_target_empty(tmp_path: Path) -> None:
    """The copy is one transaction: a disk that fills up while the copy is written (here at
    its commit, when SQLite writes the pages out) leaves no event in the target."""
    from tests.durability.faults import in_mount_namespace, shell_cli

    source = tmp_path / "exam-day.db"
    world = exam_day(build_world(source))
    world.app.close()
    mount, out = tmp_path / "tmpfs", tmp_path / "after"
    mount.mkdir()
    out.mkdir()
    target = mount / "copy.db"
    # Room (80 KiB) for the new ledger's tables (events, tree, checkpoints) and SQLite's
    # shared memory, not for the ledger's events.
    script = f"""
        mount -t tmpfs -o size=2m tmpfs {mount} || exit 99
        dd if=/dev/zero of={mount}/filler bs=4096 count=1000 2>/dev/null
        truncate -s -81920 {mount}/filler
        {shell_cli(str(source), "copy", "--from", str(source), "--to", str(target))}
        code=$?
        cp {mount}/copy.db* {out}/
        exit $code
    """
    result = in_mount_namespace(script)
    assert result.returncode == 5, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot copy {source} to {target}: database or disk is full")
    assert "nothing was written" in line
    assert rows(str(out / "copy.db")) == []
    assert len(hashes(str(source))) > 40


def checkpointed(db: str) -> tuple[list[tuple[int, bytes]], bytes]:
    """A ledger on ``db`` with a log key, two stored checkpoints (the first cosigned by the
    inspector INS-01) and steps between and after them; returns its stored checkpoints
    (size, note) and a receipt of a step under the second checkpoint."""
    from ledger.application.log import TransparencyLog
    from ledger.tlog.checkpoint import Cosigner
    from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey
    from ledger.tlog.witness import cosign
    from tests.backends.test_log_tamper import LOG
    from tests.conftest import LEDGER_ID, fixed_key

    ledger.create(db, ["LOT-1", "LOT-2"], log_key=True)
    with closing(open_ledger(db)) as app:
        tlog = TransparencyLog(app)
        first = tlog.sign_checkpoint(LOG)
        verifier = Ed25519Verifier(VerifierKey(LEDGER_ID, SIG_ED25519, LOG.key.public_key.raw))
        # Cosigned now (whole seconds): after the steps it holds, not after the next one.
        at = int(app.clock().timestamp())
        tlog.add_cosignatures(cosign(first, verifier, Cosigner("INS-01", fixed_key("INS-01"),
                                                                at))[1])
        step = ledger.handover(app, "LOT-1", "after the first checkpoint")
        second = tlog.sign_checkpoint(LOG)
        ledger.handover(app, "LOT-2", "after the second checkpoint")
        receipt = tlog.tlog_proof(step.position, second)
        stored = [(size, note) for _, size, note in app.recorder.checkpoint_rows()]
    assert len(stored) == 2 and "\u2014 INS-01 " in stored[0][1].decode()
    return stored, receipt


def copied_log(db: str) -> tuple[list[tuple[int, bytes]], bytes]:
    """(stored checkpoints, the stored tree's root) of ``db``."""
    from ledger.tlog import merkle

    with closing(open_ledger(db)) as app:
        recorder = app.recorder
        stored = [(size, note) for _, size, note in recorder.checkpoint_rows()]
        root = merkle.tree_hash(recorder.tree_size(), recorder.tree_hashes)
    return stored, root


def verify_codes(db: str, evidence=()) -> list[str]:
    with closing(open_ledger(db, read_only=True)) as app:
        verifier = Verifier(app.recorder, evidence=list(evidence))
        try:
            return sorted({f.code for f in verifier.run().findings})
        finally:
            verifier.close()


@pytest.mark.postgres
def test_checkpoints_and_cosignatures_copy_both_ways_and_still_verify(
        tmp_path: Path, postgres_db: str) -> None:
    from ledger.verify.log import Evidence

    origin, back = str(tmp_path / "origin.db"), str(tmp_path / "back.db")
    stored, receipt = checkpointed(origin)
    origin_root = copied_log(origin)[1]
    for source, target in ((origin, postgres_db), (postgres_db, back)):
        result = copy(source, target)
        assert result.exit_code == 0, result.output
        assert (f"Merkle tree rebuilt (root {origin_root.hex()}); 2 stored checkpoint(s) "
                "copied with their cosignatures") in result.output
        copied, root = copied_log(target)
        assert copied == stored  # byte for byte, the cosignature with them, in order
        assert root == origin_root
        # The copy verifies against the same checkpoints, and the receipt taken from the
        # origin checks against the copy: its event is at its index in the copy's tree.
        assert verify_codes(target) == []
        assert verify_codes(target, [Evidence("receipt", receipt, receipt=True)]) == []


def test_a_copy_of_a_ledger_without_checkpoints_says_none_were_copied(tmp_path: Path) -> None:
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    ledger.create(source, ["LOT-1"])
    result = copy(source, target)
    assert result.exit_code == 0, result.output
    assert "0 stored checkpoint(s) copied" in result.output
    assert verify_codes(target) == []


def test_a_tampered_checkpoint_is_copied_as_stored_and_the_copy_reports_it(
        tmp_path: Path) -> None:
    """The copy carries the evidence as it is: it neither repairs nor drops a checkpoint."""
    import sqlite3

    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    checkpointed(source)
    with closing(sqlite3.connect(source)) as c, c:
        (note,) = c.execute("SELECT note FROM checkpoints WHERE id = 2").fetchone()
        flipped = bytearray(note)
        flipped[note.index(b"\n\n") - 3] ^= 0x01  # inside the base64 root
        c.execute("UPDATE checkpoints SET note = ? WHERE id = 2", (bytes(flipped),))
    assert verify_codes(source) == ["CHECKPOINT_SIGNATURE_INVALID"]
    assert copy(source, target).exit_code == 0
    assert verify_codes(target) == ["CHECKPOINT_SIGNATURE_INVALID"]
