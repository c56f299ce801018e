"""C2SP tlog-witness over real HTTP on localhost: `custody witness serve` and the client in
`custody checkpoint --witness` — the happy path, every status the spec gives, a fork refused
with evidence and never cosigned, a stale client corrected by 409, two clients at once, and a
witness killed (SIGKILL) between saving its state and replying."""

from __future__ import annotations

import http.client
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ledger.application.cosigning import ask_witnesses
from ledger.application.log import TransparencyLog
from ledger.application.witness import Witness, WitnessState
from ledger.network.server import witness_server
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import parse_note, sign_note, Ed25519Signer
from ledger.tlog.witness import MAX_REQUEST, AddCheckpoint, witness_cosignatures
from ledger.verify.log_keys import witness_key
from ledger.core.keys import SigningKey
from tests.conftest import LEDGER_ID, World, fixed_key
from tests.network.conftest import (
    LOG,
    WITNESS,
    Serving,
    custody,
    more_steps,
    name_log_key,
    served,
)


def post(url: str, body: bytes, headers: dict[str, str] | None = None
         ) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", "/add-checkpoint", body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type"), answer.read()
    finally:
        connection.close()


def request(tlog: TransparencyLog, old: int, note: bytes, proof=None) -> bytes:
    size = Checkpoint.parse(parse_note(note)[0]).size
    if proof is None:
        proof = merkle.prove_tree(size, old, tlog.read) if 0 < old < size else []
    return AddCheckpoint(old, tuple(proof), note).format()


def witness_of(state: Path) -> Witness:
    return Witness(WITNESS.person_id, WITNESS.key, {LEDGER_ID: LOG.key.public_key.raw},
                   WitnessState(state))


def in_thread(state: Path):
    return served(witness_server(witness_of(state).add_checkpoint, MAX_REQUEST,
                                 ("127.0.0.1", 0), lambda line: None))


def note_at(tlog: TransparencyLog, size: int, key: SigningKey = LOG.key,
            origin: str = LEDGER_ID) -> bytes:
    return sign_note(Checkpoint(origin, size, tlog.root(size)).format(),
                     Ed25519Signer(origin, key))


def cosigners(world: World, note: bytes) -> list[str]:
    state = world.app.state(roster=True)[0]
    return [c.witness for c in witness_cosignatures(note, [LEDGER_ID], witness_key(state))]


# --- the happy path, through the CLI --------------------------------------------------------


def test_the_witness_server_cosigns_what_checkpoint_witness_sends_and_the_ledger_stores_it(
        logged: World, keyfiles: Path, tmp_path: Path) -> None:
    more_steps(logged, "LOT-1", 2)
    logged.app.close()
    db, state = str(logged.db), tmp_path / "witness-state"
    with Serving("witness", "serve", "--key", str(keyfiles / "ins01.key"),
                 "--passphrase-file", str(keyfiles / "ins01.pass"),
                 "--log-key", str(keyfiles / "log.key.pub"), "--state", str(state)) as witness:
        first = custody("--db", db, "checkpoint", "--key", str(keyfiles / "log.key"),
                        "--witness", witness.url)
        assert first.returncode == 0, first.stderr
        assert first.stdout.count("\n— ") == 2 and "\n— INS-01 " in first.stdout
        # The witness kept the checkpoint it cosigned, 0600.
        kept = (state / f"{LEDGER_ID}.checkpoint")
        assert Checkpoint.parse(parse_note(kept.read_bytes())[0]).size == 20
        assert oct(kept.stat().st_mode & 0o777) == "0o600"
        # Two more events: the next checkpoint goes with the consistency proof from 20.
        from ledger.application.custody import open_ledger
        from tests.conftest import Clock, World as W
        app = open_ledger(db)
        world = W(app, db, Clock(logged.clock.now), logged.signers)
        more_steps(world, "LOT-1", 2)
        app.close()
        second = custody("--db", db, "checkpoint", "--key", str(keyfiles / "log.key"),
                         "--witness", witness.url)
        assert second.returncode == 0, second.stderr
        assert "\n— INS-01 " in second.stdout and "22\n" in second.stdout
        verified = custody("--db", db, "verify")
        assert verified.returncode == 0 and verified.stdout.startswith("intact")
    assert witness.stderr.count('"POST /add-checkpoint HTTP/1.1" 200') == 2


def test_appends_with_custody_log_key_and_custody_witnesses_end_up_witnessed(
        logged: World, keyfiles: Path, tmp_path: Path) -> None:
    logged.app.close()
    db = str(logged.db)
    with Serving("witness", "serve", "--key", str(keyfiles / "ins01.key"),
                 "--passphrase-file", str(keyfiles / "ins01.pass"),
                 "--log-key", str(keyfiles / "log.key.pub"),
                 "--state", str(tmp_path / "w")) as witness:
        result = custody("--db", db, "room", "register", "SR-9", "--name", "Room 9",
                         "--licence", "BM-9", "--valid-from", "2026-01-01T00:00:00+08:00",
                         "--valid-until", "2026-12-31T23:59:59+08:00",
                         "--occurred-at", "2026-06-06T14:00:00+08:00",
                         "--authority-key", str(keyfiles / "auth.key"),
                         env={"CUSTODY_LOG_KEY": str(keyfiles / "log.key"),
                              "CUSTODY_WITNESSES": witness.url})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    from ledger.application.custody import open_ledger
    app = open_ledger(db, read_only=True)
    try:
        tlog = TransparencyLog(app)
        stored = tlog.stored_version(note_at(tlog, 19))
        state = app.state(roster=True)[0]
        assert [c.witness for c in witness_cosignatures(
            stored, [LEDGER_ID], witness_key(state))] == ["INS-01"]
    finally:
        app.close()


# --- every status of the spec ----------------------------------------------------------------


def test_every_refusal_has_the_status_the_spec_gives_and_changes_nothing(
        logged: World, twin: World, tmp_path: Path) -> None:
    tlog = TransparencyLog(logged.app)
    more_steps(logged, "LOT-1", 3)  # 21 events
    state = tmp_path / "w"
    note18, note21 = note_at(tlog, 18), note_at(tlog, 21)
    with in_thread(state) as url:
        status, kind, body = post(url, request(tlog, 0, note18))
        assert status == 200 and body.startswith("— INS-01 ".encode())
        saved = (state / f"{LEDGER_ID}.checkpoint").read_bytes()
        cases = {
            "no blank line": (b"old 18\n" + note21, 400),
            "old size above the checkpoint's": (request(tlog, 22, note21, []), 400),
            "a leading zero": (request(tlog, 18, note21).replace(b"old 18", b"old 018"), 400),
            "64 proof lines": (b"old 18\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64
                               + b"\n" + note21, 400),
            "another key": (request(tlog, 18, note_at(tlog, 21, fixed_key("NOT-THE-LOG"))), 403),
            "an unknown log": (request(tlog, 0, note_at(tlog, 21, origin="other-ledger")), 404),
            "a stale old size": (request(tlog, 0, note21), 409),
            "a proof that fails": (request(tlog, 18, note21, [b"\x01" * 32] * 2), 422),
        }
        for what, (body, want) in cases.items():
            status, kind, answer = post(url, body)
            assert status == want, (what, answer)
            assert "— INS-01".encode() not in answer, what  # never cosigned
            assert (state / f"{LEDGER_ID}.checkpoint").read_bytes() == saved, what
        status, kind, answer = post(url, request(tlog, 0, note21))
        assert (status, kind, answer) == (409, "text/x.tlog.size", b"18\n")
        # No length, or too long: refused before the body is read.
        status, _, _ = post(url, b"", {"Content-Length": str(MAX_REQUEST + 1)})
        assert status == 413
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
            raw.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 411 ")
        # And the right submission still goes through: 18 -> 21.
        status, _, answer = post(url, request(tlog, 18, note21))
        assert status == 200 and answer.startswith("— INS-01 ".encode())


def test_a_fork_is_refused_with_both_checkpoints_as_evidence_and_never_cosigned(
        logged: World, twin: World, keyfiles: Path, tmp_path: Path) -> None:
    # The twin: same ledger id, same keys, another history of the same length.
    twin.register("LOT-9")
    twin.handover("LOT-9", "STF-01", "STF-03")
    name_log_key(twin)
    more_steps(twin, "LOT-9", 4)
    assert twin.app.last_position() == 18
    ours, theirs = TransparencyLog(logged.app), TransparencyLog(twin.app)
    theirs.sign_checkpoint(LOG)
    state = tmp_path / "w"
    with in_thread(state) as url:
        assert [a.witnesses for a in ask_witnesses(ours, note_at(ours, 18), [url])] == [
            ("INS-01",)]
        forked = note_at(theirs, 18)
        status, kind, body = post(url, request(theirs, 18, forked))
        assert status == 409 and kind == "text/plain; charset=utf-8" and body.startswith(b"fork: ")
        asked = ask_witnesses(theirs, forked, [url])
    assert asked[0].witnesses == () and "refused the checkpoint of 18 events (409: fork" in \
        asked[0].problem
    old = state / f"fork-{LEDGER_ID}-18-18.old.checkpoint"
    new = state / f"fork-{LEDGER_ID}-18-18.new.checkpoint"
    assert old.read_bytes() == note_at(ours, 18) and new.read_bytes() == forked
    assert oct(new.stat().st_mode & 0o777) == "0o600"
    # The witness still holds our branch; the twin's stored checkpoint has no cosignature.
    assert (state / f"{LEDGER_ID}.checkpoint").read_bytes() == note_at(ours, 18)
    assert cosigners(twin, theirs.stored_version(forked)) == []


def test_a_stale_client_is_corrected_by_409_and_resubmits_from_the_witness_size(
        logged: World, tmp_path: Path) -> None:
    tlog = TransparencyLog(logged.app)
    more_steps(logged, "LOT-1", 4)  # 22 events
    state = tmp_path / "w"
    witness = witness_of(state)
    answers: list[int] = []

    def recorded(body: bytes):
        answer = witness.add_checkpoint(body)
        answers.append(answer.status)
        return answer

    # The witness cosigned size 20 (someone else asked it); the ledger only knows it
    # cosigned 18: its first request goes from 18, is told 20, and goes again from 20.
    tlog.add_cosignatures(witness.cosign(note_at(tlog, 18), 0, [])[1])
    witness.cosign(note_at(tlog, 20), 18, merkle.prove_tree(20, 18, tlog.read))
    note22 = tlog.sign_checkpoint(LOG)
    with served(witness_server(recorded, MAX_REQUEST, ("127.0.0.1", 0),
                               lambda line: None)) as url:
        asked = ask_witnesses(tlog, note22, [url])
    assert answers == [409, 200] and asked[0].witnesses == ("INS-01",)
    assert cosigners(logged, tlog.stored_version(note22)) == ["INS-01"]


def race(url: str, bodies: list[bytes]) -> list[tuple[int, str, bytes]]:
    """Send every body at once, each from its own connection."""
    start = threading.Barrier(len(bodies))
    results: list[tuple[int, str, bytes]] = [(0, "", b"")] * len(bodies)

    def submit(i: int) -> None:
        start.wait()
        results[i] = post(url, bodies[i])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("sizes", [(20, 22), (20, 22), (20, 22), (19, 20, 21, 22, 23, 24)])
def test_clients_submitting_at_once_from_one_size_advance_the_witness_exactly_once(
        logged: World, tmp_path: Path, sizes: tuple[int, ...]) -> None:
    tlog = TransparencyLog(logged.app)
    more_steps(logged, "LOT-1", 6)  # 24 events
    state = tmp_path / "w"
    witness_of(state).cosign(note_at(tlog, 18), 0, [])
    with in_thread(state) as url:
        results = race(url, [request(tlog, 18, note_at(tlog, size)) for size in sizes])
    won = [size for size, r in zip(sizes, results) if r[0] == 200]
    assert len(won) == 1, [r[0] for r in results]
    assert [r for size, r in zip(sizes, results) if size != won[0]] == [
        (409, "text/x.tlog.size", f"{won[0]}\n".encode())] * (len(sizes) - 1)
    held = Checkpoint.parse(parse_note((state / f"{LEDGER_ID}.checkpoint").read_bytes())[0])
    assert held.size == won[0]


def test_a_witness_killed_between_saving_and_replying_answers_the_retry_from_what_it_saved(
        logged: World, keyfiles: Path, tmp_path: Path) -> None:
    tlog = TransparencyLog(logged.app)
    more_steps(logged, "LOT-1", 3)  # 21 events
    state, marker = tmp_path / "w", tmp_path / "saved"
    tlog.add_cosignatures(witness_of(state).cosign(note_at(tlog, 18), 0, [])[1])
    note21 = tlog.sign_checkpoint(LOG)
    harness = Serving(command=[sys.executable, "-m", "tests.network.witness_process",
                               str(state), str(keyfiles / "log.key.pub"), str(marker)])
    with harness:
        failed: list[Exception] = []

        def submit() -> None:
            try:
                post(harness.url, request(tlog, 18, note21))
            except Exception as exc:  # noqa: BLE001 - what the client saw is the point
                failed.append(exc)

        client = threading.Thread(target=submit)
        client.start()
        for _ in range(200):
            if marker.exists():
                break
            time.sleep(0.05)
        assert marker.read_text() == "saved 21\n"
        harness.kill()  # SIGKILL: after the save, before any reply
        client.join(15)
    assert failed and isinstance(failed[0], (http.client.RemoteDisconnected,
                                             ConnectionResetError))
    # The state is the new checkpoint, whole.
    held = (state / f"{LEDGER_ID}.checkpoint").read_bytes()
    assert held == note21 and not list(state.glob(".*.partial"))
    # A new witness process on the same state: the client's retry from 18 is told 21, goes
    # again from 21 and is cosigned.
    with Serving("witness", "serve", "--key", str(keyfiles / "ins01.key"),
                 "--passphrase-file", str(keyfiles / "ins01.pass"),
                 "--log-key", str(keyfiles / "log.key.pub"), "--state", str(state)) as again:
        asked = ask_witnesses(tlog, note21, [again.url])
    assert asked[0].witnesses == ("INS-01",), asked
    assert cosigners(logged, tlog.stored_version(note21)) == ["INS-01"]


# --- what the client says when a witness fails -------------------------------------------------


def test_an_unreachable_or_silent_witness_is_a_warning_and_the_checkpoint_is_stored(
        logged: World, keyfiles: Path) -> None:
    logged.app.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    quiet = silent.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    try:
        result = custody("--db", str(logged.db), "checkpoint", "--key",
                         str(keyfiles / "log.key"), "--timeout", "0.5",
                         "--witness", f"http://127.0.0.1:{dead}",
                         "--witness", f"http://127.0.0.1:{quiet}")
    finally:
        silent.close()
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (f"warning: witness http://127.0.0.1:{dead}: cannot reach "
                        f"http://127.0.0.1:{dead}: Connection refused")
    assert lines[1] == (f"warning: witness http://127.0.0.1:{quiet}: cannot reach "
                        f"http://127.0.0.1:{quiet}: timed out")
    assert lines[2] == ("error: 0 witness(es) cosigned, fewer than the quorum of 2; the "
                        "checkpoint is stored, without enough cosignatures")
    assert len(lines) == 3 and "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{LEDGER_ID}\n18\n")
    assert custody("--db", str(logged.db), "verify").returncode == 0


def test_witness_serve_refuses_a_log_key_that_names_no_log(keyfiles: Path,
                                                           tmp_path: Path) -> None:
    unnamed = tmp_path / "unnamed.pub"
    unnamed.write_text(LOG.key.public_key.format())
    result = custody("witness", "serve", "--key", str(keyfiles / "ins01.key"),
                     "--passphrase-file", str(keyfiles / "ins01.pass"), "--log-key",
                     str(unnamed), "--state", str(tmp_path / "w"), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert result.stderr == (f"error: {unnamed} does not name its log; use the .pub file "
                             "'custody keys new LEDGER-ID' wrote for the log key\n")
    bad = custody("witness", "serve", "--key", str(keyfiles / "ins01.key"),
                  "--passphrase-file", str(keyfiles / "ins01.pass"), "--log-key",
                  str(keyfiles / "log.key.pub"), "--state", str(tmp_path / "w"),
                  "--listen", "localhost")
    assert bad.returncode == 2
    assert bad.stderr == ("error: --listen 'localhost' is not HOST:PORT (e.g. "
                          "127.0.0.1:8080)\n")
