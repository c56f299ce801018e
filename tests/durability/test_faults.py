"""Every fault is one line on stderr starting 'error:', exit 5 (database) from the README's
table, and no partial write; the next command works once the fault is gone.

SQLite: a read-only ledger file, a read-only folder, a full disk (a size-limited tmpfs,
mounted in a private mount namespace), a lock held by another process for longer than the
timeout. PostgreSQL (a throwaway cluster this module owns): the server down, stopped or
restarted in the middle of a command, a wrong password, an unknown role.
"""

from __future__ import annotations

from eventsourcing.persistence import EventStore

import shlex
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import CustodyLedger
from ledger.verify import Verifier
from ledger.application.custody import open_ledger
from tests.durability import ledger
from tests.durability.faults import (
    PASSWORD_USER,
    Cluster,
    handover_args,
    in_mount_namespace,
    rows,
    run_cli,
    shell_cli,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    return ledger.write_keyring(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A small ledger (genesis, ten people, LOT-1 and the bags), checkpointed to one file."""
    db = tmp_path_factory.mktemp("template") / "custody.db"
    ledger.create(str(db), ["LOT-1"])
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def db(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "ledger" / "custody.db"
    path.parent.mkdir()
    path.write_bytes(template.read_bytes())
    return str(path)


def assert_one_line_error(result, exit_code: int, *parts: str) -> None:
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert "recorded" not in result.stdout


def assert_next_command_works(db: str, keys: Path) -> None:
    result = run_cli(db, *handover_args(keys))
    assert result.returncode == 0, result.stderr
    assert "recorded lot.handed_over lot:LOT-1 step 2" in result.stdout
    with closing(open_ledger(db)) as app:
        assert Verifier(app.recorder, workers=1).run().intact


# -- SQLite --------------------------------------------------------------------------------


def test_read_only_ledger_file_refuses_the_step_and_writes_nothing(db: str, keys: Path) -> None:
    before = Path(db).read_bytes()
    result = in_mount_namespace(f"mount --bind -o ro {shlex.quote(db)} {shlex.quote(db)} && "
                                f"exec {shell_cli(db, *handover_args(keys))}")
    assert_one_line_error(result, 5, f"cannot write to {db}: attempt to write a readonly "
                          "database", "is read-only here", "nothing was written")
    assert Path(db).read_bytes() == before
    assert_next_command_works(db, keys)


def test_read_only_folder_refuses_to_open_the_ledger(db: str, keys: Path) -> None:
    folder = str(Path(db).parent)
    before = Path(db).read_bytes()
    result = in_mount_namespace(f"mount --bind -o ro {folder} {folder} && "
                                f"exec {shell_cli(db, *handover_args(keys))}")
    assert_one_line_error(result, 5, f"cannot open ledger database {db}",
                          f"the folder {folder} is read-only", "make it writable")
    assert Path(db).read_bytes() == before
    assert_next_command_works(db, keys)


def full_disk(db: str, keys: Path, free: int, out: Path) -> subprocess.CompletedProcess:
    """Copy the ledger onto a 2 MiB tmpfs, fill it to ``free`` bytes, record a step there,
    and copy what is left (the file, its -wal and -shm) to ``out`` for inspection."""
    mount = out.parent / "tmpfs"
    mount.mkdir()
    there = mount / "custody.db"
    out.mkdir()
    script = f"""
        mount -t tmpfs -o size=2m tmpfs {mount} || exit 99
        cp {db} {there}
        dd if=/dev/zero of={mount}/filler bs=4096 count=1000 2>/dev/null
        truncate -s -{free} {mount}/filler
        {shell_cli(str(there), *handover_args(keys))}
        code=$?
        cp {mount}/custody.db* {out}/
        exit $code
    """
    return in_mount_namespace(script)


def test_full_disk_while_writing_the_step_writes_nothing(db: str, keys: Path, tmp_path: Path) -> None:
    out = tmp_path / "after"
    # Room for SQLite's shared-memory index, not for the step's pages in the WAL.
    result = full_disk(db, keys, 40960, out)
    assert_one_line_error(result, 5, "cannot write to", "database or disk is full",
                          "is full", "free some space", "nothing was written")
    assert rows(str(out / "custody.db")) == rows(db)
    assert_next_command_works(str(out / "custody.db"), keys)


def test_full_disk_before_the_ledger_opens(db: str, keys: Path, tmp_path: Path) -> None:
    out = tmp_path / "after"
    result = full_disk(db, keys, 0, out)
    assert_one_line_error(result, 5, "cannot open ledger database", "disk I/O error",
                          "is full (0 bytes free)", "free some space")
    assert rows(str(out / "custody.db")) == rows(db)


def test_ledger_locked_by_another_process_beyond_the_timeout(db: str, keys: Path) -> None:
    before = rows(db)
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # this test's process holds the write lock
        result = run_cli(db, *handover_args(keys), env={"CUSTODY_LOCK_TIMEOUT": "1"})
        holder.execute("ROLLBACK")
    assert_one_line_error(result, 5, f"cannot write to {db}: database is locked",
                          "another process kept", "locked for over 1 s",
                          "CUSTODY_LOCK_TIMEOUT sets the wait", "nothing was written")
    assert rows(db) == before
    assert_next_command_works(db, keys)


@pytest.mark.parametrize("value", ["0", "ten", "3601"])
def test_a_lock_timeout_that_is_not_seconds_is_bad_input(db: str, keys: Path, value: str) -> None:
    result = run_cli(db, *handover_args(keys), env={"CUSTODY_LOCK_TIMEOUT": value})
    assert_one_line_error(result, 2, f"CUSTODY_LOCK_TIMEOUT={value} is not a whole number of "
                          "seconds from 1 to 3600")


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    yield made
    made.stop()


@pytest.fixture
def pg(cluster: Cluster, request) -> str:
    url = cluster.create_database(f"fault_{request.node.name.lower()[:40]}")
    ledger.create(url, ["LOT-1"])
    return url


def invoke_with(monkeypatch, action, db: str, keys: Path):
    """Run ``custody record handover`` in this process, with ``action`` done to the server
    after every check has passed and just before the step's transaction is sent."""
    put = EventStore.put

    def put_after(self, events, **kwargs):
        action()
        return put(self, events, **kwargs)

    monkeypatch.setattr(EventStore, "put", put_after)
    return CliRunner().invoke(main, ["--db", db, *handover_args(keys)])


@pytest.mark.postgres
def test_server_down_before_the_command(cluster: Cluster, pg: str, keys: Path) -> None:
    before = rows(pg)
    cluster.stop_server()
    try:
        result = run_cli(pg, *handover_args(keys), env={"CUSTODY_CONNECT_TIMEOUT": "1"})
    finally:
        cluster.start_server()
    assert_one_line_error(result, 5, f"cannot open ledger database {pg.replace('postgres@', '')}",
                          "Connection refused")
    assert rows(pg) == before
    assert_next_command_works(pg, keys)


@pytest.mark.postgres
def test_server_stopped_mid_command(cluster: Cluster, pg: str, keys: Path, monkeypatch) -> None:
    before = rows(pg)
    monkeypatch.setenv("CUSTODY_CONNECT_TIMEOUT", "1")
    try:
        result = invoke_with(monkeypatch, cluster.stop_server, pg, keys)
    finally:
        cluster.start_server()
    assert result.exit_code == 5, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot write to ") and "the PostgreSQL server stopped " \
        "answering" in line and "look with 'custody history' before recording it again" in line
    assert rows(pg) == before
    monkeypatch.undo()
    assert_next_command_works(pg, keys)


@pytest.mark.postgres
def test_server_restarted_mid_command_records_the_step_once(cluster: Cluster, pg: str, keys: Path,
                                                            monkeypatch) -> None:
    before = rows(pg)
    result = invoke_with(monkeypatch, cluster.restart_server, pg, keys)
    # The library retries on a fresh connection: the step is recorded, exactly once.
    assert result.exit_code == 0, result.stderr
    assert "recorded lot.handed_over lot:LOT-1 step 2" in result.stdout
    after = rows(pg)
    assert after[:len(before)] == before and len(after) == len(before) + 1
    monkeypatch.undo()
    with closing(open_ledger(pg)) as app:
        assert Verifier(app.recorder, workers=1).run().intact


@pytest.mark.postgres
def test_wrong_password(cluster: Cluster, pg: str, keys: Path) -> None:
    url = pg.replace("postgres@", f"{PASSWORD_USER}@")
    result = run_cli(url, *handover_args(keys), env={"PGPASSWORD": "wrong horse"})
    assert_one_line_error(result, 5, "cannot open ledger database",
                          f'password authentication failed for user "{PASSWORD_USER}"',
                          "check the user in --db and the password in PGPASSWORD")
    assert "wrong horse" not in result.stderr


@pytest.mark.postgres
def test_unknown_role(cluster: Cluster, pg: str, keys: Path) -> None:
    result = run_cli(pg.replace("postgres@", "nobody_here@"), *handover_args(keys))
    assert_one_line_error(result, 5, "cannot open ledger database",
                          'role "nobody_here" does not exist')


# -- both backends -------------------------------------------------------------------------


def test_a_commit_whose_acknowledgement_was_lost_is_acknowledged_once(backend: str,
                                                                     monkeypatch) -> None:
    """The library retries an insert whose connection failed. When the first attempt had in
    fact committed (the server or network failed after COMMIT, before its answer), the retry
    meets its own rows and the database says duplicate key. That is our step, recorded once:
    acknowledge it, rather than tell the officer to re-draft and record it a second time.

    The first attempt here really commits; the retry really inserts the same rows again and
    the database really refuses them. Only the lost answer in between is staged."""
    ledger.create(backend, ["LOT-1"])
    put = EventStore.put

    def commit_then_retry(self, events, **kwargs):
        put(self, events, **kwargs)  # commits
        # the library's retry of the same insert, with the same condition on the log's head
        self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events], **kwargs)

    before = rows(backend)
    with closing(open_ledger(backend)) as app:
        monkeypatch.setattr(EventStore, "put", commit_then_retry)
        receipt = ledger.handover(app, "LOT-1", "ack-lost")
        monkeypatch.undo()
        after = rows(backend)
        assert after[:len(before)] == before and len(after) == len(before) + 1
        assert (receipt.stream, receipt.seq, receipt.position) == ("lot:LOT-1", 2, after[-1][0])
        assert receipt.event_hash == app.event_hash("lot:LOT-1", 2)
        assert Verifier(app.recorder, workers=1).run().intact
