"""Machinery for the fault tests: a CLI subprocess, a private mount namespace (read-only
binds, a tiny tmpfs) for it, and a throwaway PostgreSQL cluster the tests may stop, restart and
give a password-protected role."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from tests.backends.conftest import ThrowawayCluster
from tests.conftest import SEALS, TEAM

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_USER = "custody_pw"


def handover_args(keys: Path, lot: str = "LOT-1", giver: str = "STF-01",
                  receiver: str = "STF-02") -> list[str]:
    args = ["record", "handover", "--lot", lot, "--from", giver, "--to", receiver, "--count",
            "30", "--location", "Secure room 1"]
    for seal in SEALS:
        args += ["--seal", seal]
    for person in TEAM:
        args += ["--sign", str(keys / f"{person}.key")]
    return args


def cli_command(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "cli", "--db", db, *args]


def run_cli(db: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(db, *args), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def in_mount_namespace(script: str) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace: its mounts vanish with it, and no
    other process on the machine sees them. Root needs only ``--mount``; anyone else maps
    themselves to root in a new user namespace first."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("the fault tests need unshare(1) (util-linux) for their private mounts")
    flags = ["--mount"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--mount"]
    return subprocess.run([unshare, *flags, "sh", "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def shell_cli(db: str, *args: str) -> str:
    return shlex.join(cli_command(db, *args))


def rows(db: str) -> list[tuple]:
    """Every stored row, position and bytes, in order: what 'nothing was written' compares."""
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db, autocommit=True)) as connection:
            return connection.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM custody_events ORDER BY notification_id").fetchall()
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute("SELECT rowid, originator_id, originator_version, topic, state "
                                  "FROM stored_events ORDER BY rowid").fetchall()


class Cluster(ThrowawayCluster):
    """A throwaway cluster this module owns: stopped and started at will, with one role that
    must give a password (scram-sha-256) while everyone else is trusted."""

    def __init__(self) -> None:
        super().__init__()
        with closing(self.server.admin()) as admin:
            admin.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD 'right horse' CREATEDB")
        hba = self.data / "pg_hba.conf"
        rule = f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())
        self._run("pg_ctl", "-D", str(self.data), "-w", "reload")

    def stop_server(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        if (self.data / "postmaster.pid").exists():
            return  # still running: the test failed before it stopped the server
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def restart_server(self) -> None:
        self.stop_server()
        self.start_server()

    def create_database(self, name: str) -> str:
        with closing(self.server.admin()) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.server.url(name)
