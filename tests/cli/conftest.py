"""A keyring of real encrypted key files (made once per module) and a CLI runner around a
fresh SQLite ledger per test."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.keystore import write_key_pair
from tests.conftest import AUTHORITY, PEOPLE, TEAM, fixed_key


@pytest.fixture(scope="session")
def keyring(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("keyring")
    for person_id in [AUTHORITY, *PEOPLE]:
        secret = folder / f"{person_id}.pass"
        secret.write_text(f"passphrase of {person_id}\n")
        os.chmod(secret, 0o600)
        write_key_pair(folder / f"{person_id}.key", person_id, fixed_key(person_id),
                       f"passphrase of {person_id}".encode())
    return folder


class Cli:
    def __init__(self, folder: Path, keyring: Path, template: Path | None = None) -> None:
        self.folder = folder
        self.keys = folder / "keys"
        shutil.copytree(keyring, self.keys)
        self.db = folder / "custody.db"
        if template is not None:
            shutil.copyfile(template, self.db)
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(main, ["--db", str(self.db), *args], input=input)

    def key(self, person_id: str) -> str:
        return str(self.keys / f"{person_id}.key")

    def secret(self, person_id: str) -> str:
        return str(self.keys / f"{person_id}.pass")

    def signing(self, *people: str) -> list[str]:
        args = []
        for p in people:
            args += ["--sign", self.key(p)]
        for p in people:
            args += ["--passphrase-file", self.secret(p)]
        return args

    def authority(self) -> list[str]:
        return ["--authority-key", self.key(AUTHORITY), "--passphrase-file", self.secret(AUTHORITY)]

    def db_digest(self) -> str:
        return hashlib.sha256(self.db.read_bytes()).hexdigest() if self.db.exists() else "absent"

    def ok(self, *args: str, input: str | None = None):
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def init(self) -> None:
        self.ok("init", "--ledger-id", "cli-ledger", "--occurred-at", "2026-06-01T09:00:00+08:00",
                *self.authority())
        for person_id, role in PEOPLE.items():
            self.ok("person", "enrol", person_id, "--name", f"Name {person_id}", "--role", role,
                    "--unit", "Unit", "--public-key", self.key(person_id) + ".pub",
                    "--occurred-at", "2026-06-01T09:30:00+08:00", *self.authority())

    def register(self, lot_id: str = "LOT-1", team=TEAM) -> None:
        self.ok("lot", "register", lot_id, "--exam", "gaokao-2026", "--subject", "math",
                "--kind", "question_paper", "--count", "30", "--seal", "SEAL-1", "--seal", "SEAL-2",
                "--holder", "STF-01", "--location", "Printing house",
                "--occurred-at", "2026-06-06T05:30:00+08:00", *self.signing(*team))

    def handover_args(self, team=TEAM, **overrides) -> list[str]:
        values = {"--lot": "LOT-1", "--from": "STF-01", "--to": "STF-02", "--count": "30",
                  "--location": "Secure room 1", "--occurred-at": "2026-06-06T06:10:00+08:00"}
        values.update(overrides)
        args = ["record", "handover", "--seal", "SEAL-1", "--seal", "SEAL-2"]
        for option, value in values.items():
            args += [option, value]
        return args + self.signing(*team)


@pytest.fixture
def cli(tmp_path, keyring) -> Cli:
    """A CLI runner with the keyring and no ledger yet."""
    return Cli(tmp_path, keyring)


@pytest.fixture(scope="session")
def ready_template(tmp_path_factory, keyring) -> Path:
    """Built once through the CLI: everyone enrolled and LOT-1 registered, held by STF-01."""
    cli = Cli(tmp_path_factory.mktemp("template"), keyring)
    cli.init()
    cli.register()
    return cli.db


@pytest.fixture
def ready(tmp_path, keyring, ready_template) -> Cli:
    """A private copy of the ready ledger."""
    return Cli(tmp_path, keyring, ready_template)


@pytest.fixture
def log_key(ready: Cli) -> Path:
    """A log key for the ready ledger (unencrypted, fixed), not yet named in it."""
    path = ready.folder / "log.key"
    write_key_pair(path, "cli-ledger", fixed_key("LOG"), None)
    return path


@pytest.fixture
def logged(ready: Cli, log_key: Path) -> Cli:
    """The ready ledger with ``log_key`` named by the authority ('custody log enable')."""
    ready.ok("log", "enable", "--log-key", f"{log_key}.pub", *ready.authority())
    return ready
