"""The backend suite: every test here runs on SQLite and on PostgreSQL.

``backend`` yields a ``--db`` string: a fresh SQLite file, or a fresh PostgreSQL database
(``CREATE DATABASE custody_<random>``, dropped afterwards) on a server found or started here:

- ``CUSTODY_TEST_POSTGRES=postgresql://user@host:port`` names the server to use;
- otherwise the machine's server on 127.0.0.1:5432 (user postgres, trust auth), if it answers;
- otherwise a throwaway cluster is initialised in a temp dir on a free port and stopped at the
  end (``CUSTODY_TEST_POSTGRES=throwaway`` forces this, to test this path).

If no server can be found or started the PostgreSQL tests FAIL, never skip: a green run must
mean both backends were tested. ``.ci/ensure-postgres`` sets up the machine's server.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import World, build_world

ENV = "CUSTODY_TEST_POSTGRES"
HINT = (f"run .ci/ensure-postgres, or set {ENV}=postgresql://USER@HOST:PORT to a server "
        "where USER may CREATE DATABASE")


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               dbname="postgres", autocommit=True, connect_timeout=5)

    def answers(self) -> str | None:
        """None when the server accepts us, else why not."""
        try:
            self.admin().close()
            return None
        except psycopg.Error as exc:
            return " ".join(str(exc).split())


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(re.findall(r"/(\d+)/bin/", p)[0]), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(found)
    return Path(candidates[0]).parent if candidates else None


class ThrowawayCluster:
    """A PostgreSQL cluster in a temp dir, trust auth, on a free port; for this run only."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            pytest.fail("PostgreSQL tests need a server: none answers on 127.0.0.1:5432 and no "
                        f"initdb was found (/usr/lib/postgresql/*/bin/initdb, PATH); {HINT}",
                        pytrace=False)
        self.bindir = bindir
        self.prefix: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix="custody-pg-"))
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run them as the postgres user.
            runuser = shutil.which("runuser")
            if runuser is None or not _user_exists("postgres"):
                pytest.fail("PostgreSQL tests: running as root, and there is no 'postgres' user "
                            f"or no runuser to start a throwaway cluster with; {HINT}",
                            pytrace=False)
            shutil.chown(self.dir, "postgres", "postgres")
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self.port = _free_port()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")
        self.server = PgServer("127.0.0.1", self.port, "postgres")

    def _run(self, tool: str, *args: str) -> None:
        try:
            subprocess.run([*self.prefix, str(self.bindir / tool), *args], check=True,
                           capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            output = getattr(exc, "stderr", "") or ""
            log = self.dir / "server.log"
            if log.exists():
                output += log.read_text(errors="replace")[-2000:]
            self.remove()
            pytest.fail(f"PostgreSQL tests: could not start a throwaway cluster with {tool} "
                        f"({exc}): {output.strip()}; {HINT}", pytrace=False)

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """A PostgreSQL server this run may create databases on (found, or started and stopped)."""
    wanted = os.environ.get(ENV, "")
    if wanted and wanted != "throwaway":
        parts = urlsplit(wanted)
        server = PgServer(parts.hostname or "127.0.0.1", parts.port or 5432,
                          parts.username or "postgres")
        problem = server.answers()
        if problem:
            pytest.fail(f"PostgreSQL tests: {ENV}={wanted} does not answer: {problem}",
                        pytrace=False)
        yield server
        return
    if not wanted:
        local = PgServer("127.0.0.1", 5432, os.environ.get("PGUSER", "postgres"))
        if local.answers() is None:
            yield local
            return
    cluster = ThrowawayCluster()
    try:
        problem = cluster.server.answers()
        if problem:
            pytest.fail(f"PostgreSQL tests: the throwaway cluster started but refuses us: "
                        f"{problem}", pytrace=False)
        yield cluster.server
    finally:
        cluster.stop()


@pytest.fixture
def postgres_db(postgres_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the server; dropped (connections and all) afterwards."""
    name = f"custody_{secrets.token_hex(6)}"
    with closing(postgres_server.admin()) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        with closing(postgres_server.admin()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``--db`` string for an empty ledger: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "custody.db")
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def world(backend: str) -> Iterator[World]:
    """Overrides the SQLite-only ``world`` (and so ``day``) of tests/conftest.py: the same
    genesis and ten enrolled people, on this test's backend."""
    w = build_world(backend)
    yield w
    w.app.close()


class RawStore:
    """The library's table of stored events, read and written with plain SQL.

    The library names it: ``stored_events`` in SQLite (position = rowid), and
    ``<application name>_events`` = ``custody_events`` in PostgreSQL (position =
    ``notification_id``, a bigserial).
    """

    def __init__(self, db: str) -> None:
        self.db = db
        self.postgres = db.startswith("postgresql://")
        self.table = "custody_events" if self.postgres else "stored_events"
        self.position_column = "notification_id" if self.postgres else "rowid"

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            with closing(psycopg.connect(self.db, autocommit=True)) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()
        with closing(sqlite3.connect(self.db)) as connection:
            with connection:
                return connection.execute(sql, params).fetchall()

    def count(self) -> int:
        return self._query(f"SELECT count(*) FROM {self.table}")[0][0]

    def rows(self) -> list[tuple[int, str, int]]:
        """(position, stream, version) of every row, in position order."""
        return [(int(p), s, int(v)) for p, s, v in self._query(
            f"SELECT {self.position_column}, originator_id, originator_version "
            f"FROM {self.table} ORDER BY {self.position_column}")]

    def positions(self) -> list[int]:
        return [row[0] for row in self.rows()]

    def position(self, stream: str, version: int) -> int:
        (row,) = self._query(f"SELECT {self.position_column} FROM {self.table} "
                             "WHERE originator_id = ? AND originator_version = ?",
                             (stream, version))
        return int(row[0])

    def state(self, stream: str, version: int) -> bytes:
        (row,) = self._query(f"SELECT state FROM {self.table} "
                             "WHERE originator_id = ? AND originator_version = ?",
                             (stream, version))
        return bytes(row[0])

    def set_state(self, stream: str, version: int, state: bytes) -> None:
        """The tamperer's UPDATE, straight to the table, bypassing the application; the
        stored Merkle tree is rebuilt to match (the tamperer can recompute any hash)."""
        updated = self._query(f"UPDATE {self.table} SET state = ? "
                              "WHERE originator_id = ? AND originator_version = ? RETURNING 1",
                              (state, stream, version))
        assert len(updated) == 1, f"no stored row {stream} version {version}"
        self.retree()

    def retree(self) -> None:
        """Rewrite the stored tree's tables to match the events as they now stand, so a test
        sees only what its edit does to the events (a stale tree is a ROOT_MISMATCH of its
        own: test_stored_tree_audit.py)."""
        from ledger.tlog import merkle
        from ledger.core.digests import event_hash_of_bytes

        prefix = "custody_" if self.postgres else ""
        tree, hashes, leaves = merkle.CompactRange(), [], []
        for position, state in self._query(f"SELECT {self.position_column}, state FROM "
                                           f"{self.table} ORDER BY {self.position_column}"):
            start = merkle.stored_hash_index(0, tree.size)
            leaves.append((tree.size, int(position)))
            created = tree.append(merkle.leaf_hash(event_hash_of_bytes(bytes(state))))
            hashes.extend((start + i, h) for i, h in enumerate(created))
        mark = "%s" if self.postgres else "?"
        statements = [(f"INSERT INTO {prefix}tree_hashes (idx, hash) VALUES ({mark}, {mark})",
                       hashes),
                      (f"INSERT INTO {prefix}tree_leaves (leaf, position) VALUES ({mark}, "
                       f"{mark})", leaves)]
        if self.postgres:
            with closing(psycopg.connect(self.db)) as connection, connection, \
                    connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {prefix}tree_hashes")
                cursor.execute(f"DELETE FROM {prefix}tree_leaves")
                for sql, rows in statements:
                    cursor.executemany(sql, rows)
            return
        with closing(sqlite3.connect(self.db)) as connection, connection:
            connection.execute(f"DELETE FROM {prefix}tree_hashes")
            connection.execute(f"DELETE FROM {prefix}tree_leaves")
            for sql, rows in statements:
                connection.executemany(sql, rows)


@pytest.fixture
def raw(backend: str) -> RawStore:
    return RawStore(backend)
