"""Ledgers with a log key and checkpoints, real key files, and servers on free localhost
ports: in a thread (``served``) or as a real ``custody`` subprocess (``Serving``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest

from ledger.application.custody import CustodyLedger, open_ledger
from ledger.application.keystore import Signer, write_key_pair
from ledger.application.log import TransparencyLog
from ledger.application.tiles import EVENTS
from ledger.core.canonical import parse_timestamp
from ledger.core.keys import SigningKey
from ledger.network.server import Server, tiles_server
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import Ed25519Signer, sign_note
from tests.conftest import AUTHORITY, LEDGER_ID, World, build_world, fixed_key

ROOT = Path(__file__).resolve().parents[2]

LOG = Signer(LEDGER_ID, fixed_key("LOG"))
WITNESS = Signer("INS-01", fixed_key("INS-01"))  # the enrolled inspector
CUSTODY = str(Path(sys.executable).with_name("custody"))


GENERATED = 700  # events bench/generate.py writes: two full tiles and a partial one
GENERATED_ID = "bench-province"  # generate.py's ledger id


def bench_key(person_id: str):
    """A key of bench/generate.py's roster (its deterministic benchmark keys)."""
    return SigningKey.from_seed(hashlib.sha256(b"custody-bench-key:" + person_id.encode())
                                .digest())


@pytest.fixture(scope="session")
def generated_template(tmp_path_factory) -> Path:
    """A 700-event ledger written by bench/generate.py (no log key, no tree yet)."""
    db = tmp_path_factory.mktemp("generated") / "ledger.db"
    subprocess.run([sys.executable, "bench/generate.py", "--events", str(GENERATED),
                    "--people", "12", "--workers", "1", "--db", str(db)], check=True,
                   capture_output=True, cwd=ROOT)
    return db


@pytest.fixture
def generated(tmp_path: Path, generated_template: Path):
    """A copy of the generated ledger with the log key named (701 events, a tree), open."""
    db = tmp_path / "generated.db"
    shutil.copyfile(generated_template, db)
    app = open_ledger(str(db))
    head = app.state()[0].head("ledger")
    assert head is not None
    app.set_log_key(LOG.key.public_key, Signer(AUTHORITY, bench_key(AUTHORITY)),
                    parse_timestamp(head.occurred_at) + timedelta(seconds=1))
    yield app
    app.close()


def checkpoint_at(app: CustodyLedger, size: int) -> bytes:
    """Sign and store a checkpoint of the tree's first ``size`` leaves, as the log would
    have at that size: a log that grew, in one ledger."""
    tlog = TransparencyLog(app)
    ledger_id = app.state()[0].ledger_id
    assert ledger_id is not None
    note = sign_note(Checkpoint(ledger_id, size, tlog.root(size)).format(),
                     Ed25519Signer(ledger_id, LOG.key))
    app.recorder.insert_checkpoint(size, note)
    return note


def name_log_key(world: World) -> None:
    world.app.set_log_key(LOG.key.public_key, world.signers[AUTHORITY], world.clock.now)


def more_steps(world: World, lot_id: str, count: int) -> None:
    """``count`` handovers of ``lot_id`` back and forth between STF-02 and STF-03 (the lot
    must be held by STF-03, as ``day`` leaves its lots)."""
    holder, other = "STF-03", "STF-02"
    for _ in range(count):
        world.handover(lot_id, holder, other)
        holder, other = other, holder


@pytest.fixture
def logged(day: World) -> World:
    """The ``day`` ledger with its log key named and a checkpoint signed (18 events)."""
    name_log_key(day)
    TransparencyLog(day.app).sign_checkpoint(LOG)
    return day


@pytest.fixture
def twin(tmp_path: Path) -> World:
    """Another ledger with the same id and keys (a fork's other branch): genesis and
    enrolments as ``day``'s, then another history."""
    (tmp_path / "twin").mkdir()
    w = build_world(tmp_path / "twin" / "custody.db")
    yield w
    w.app.close()


@pytest.fixture(scope="session")
def keyfiles(tmp_path_factory) -> Path:
    """Key files for the CLI: the log's public key (naming the ledger), and the witness's
    encrypted key with its passphrase file."""
    folder = tmp_path_factory.mktemp("network-keys")
    write_key_pair(folder / "log.key", LEDGER_ID, LOG.key, None)  # and log.key.pub
    write_key_pair(folder / "auth.key", AUTHORITY, fixed_key(AUTHORITY), None)
    write_key_pair(folder / "ins01.key", "INS-01", WITNESS.key, b"passphrase of INS-01")
    secret = folder / "ins01.pass"
    secret.write_text("passphrase of INS-01\n")
    os.chmod(secret, 0o600)
    other = fixed_key("NOT-THE-LOG")
    (folder / "other.key.pub").write_text(other.public_key.format(LEDGER_ID))
    return folder


@contextmanager
def served(server: Server) -> Iterator[str]:
    """Run ``server`` in a thread; yield its URL; stop it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def tiles_served(directory: Path) -> Iterator[str]:
    with served(tiles_server(directory, ("127.0.0.1", 0), lambda line: None,
                             bases=(EVENTS,))) as url:
        yield url


class Serving:
    """A ``custody`` server as a real subprocess on a free port (``--listen 127.0.0.1:0``):
    its first line of output names the URL. Stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        argv = command if command is not None else [CUSTODY, *args, "--listen", "127.0.0.1:0"]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, cwd=ROOT,
                                        env={**os.environ, "CUSTODY_LANG": "en", **(env or {})},
                                        start_new_session=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "http://" not in line:
            self.process.kill()
            raise AssertionError(f"the server did not start: {line!r} "
                                 f"{self.process.stderr.read() if self.process.stderr else ''}")
        self.url = "http://" + line.split("http://", 1)[1].split("/", 1)[0]
        # Drained as it comes (request lines), so a full pipe never stalls the server.
        self.lines: list[str] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> "Serving":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._drain.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def custody(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``custody`` as a real process."""
    return subprocess.run([CUSTODY, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CUSTODY_LANG": "en", **(env or {})}, cwd=cwd)
