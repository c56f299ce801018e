"""Witnesses named in the genesis (``custody init --witness NAME=PUBFILE``): their
cosignatures are stored by ``witness add`` and count in ``verify``'s witness windows like an
enrolled inspector's; a witness neither named nor enrolled is refused; every bad
``--witness`` is one line, a non-zero exit and nothing written."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from ledger.application.keystore import write_key_pair
from ledger.tlog.note import parse_note
from tests.cli.conftest import Cli
from tests.cli.test_witness import T0, checkpoint, cosign
from tests.conftest import PEOPLE, fixed_key


def witness_key(cli: Cli, name: str) -> Path:
    """An encrypted key pair for ``name`` in the CLI's keyring (.key, .key.pub, .pass)."""
    secret = cli.keys / f"{name}.pass"
    secret.write_text(f"passphrase of {name}\n")
    os.chmod(secret, 0o600)
    write_key_pair(cli.keys / f"{name}.key", name, fixed_key(name),
                   f"passphrase of {name}".encode())
    return cli.keys / f"{name}.key.pub"


@pytest.fixture
def log_key(tmp_path: Path) -> Path:
    path = tmp_path / "log.key"  # the folder of this test's Cli
    write_key_pair(path, "cli-ledger", fixed_key("LOG"), None)
    return path


def init_args(cli: Cli, *extra: str) -> list[str]:
    return ["init", "--ledger-id", "cli-ledger", "--occurred-at", "2026-06-01T09:00:00+08:00",
            *cli.authority(), *extra]


@pytest.fixture(scope="module")
def witnessed_template(tmp_path_factory, keyring) -> Path:
    """Built once: a ledger whose genesis names the witness DIO-01 (no one enrols it), with a
    log key, everyone enrolled and LOT-1 registered."""
    cli = Cli(tmp_path_factory.mktemp("witnessed"), keyring)
    log = cli.folder / "log.key"
    write_key_pair(log, "cli-ledger", fixed_key("LOG"), None)
    result = cli.ok(*init_args(cli, "--log-key", f"{log}.pub",
                               "--witness", f"DIO-01={witness_key(cli, 'DIO-01')}"))
    assert "witnesses named in the genesis: DIO-01" in result.output
    for person_id, role in PEOPLE.items():
        cli.ok("person", "enrol", person_id, "--name", f"Name {person_id}", "--role", role,
               "--unit", "Unit", "--public-key", cli.key(person_id) + ".pub",
               "--occurred-at", "2026-06-01T09:30:00+08:00", *cli.authority())
    cli.register()
    return cli.db


@pytest.fixture
def witnessed(tmp_path, keyring, witnessed_template: Path) -> Cli:
    """A private copy of the witnessed ledger, with DIO-01's key in its keyring."""
    cli = Cli(tmp_path, keyring, witnessed_template)
    witness_key(cli, "DIO-01")
    return cli


def stored_notes(cli: Cli) -> list[bytes]:
    with closing(sqlite3.connect(cli.db)) as c:
        return [bytes(r[0]) for r in c.execute("SELECT note FROM checkpoints ORDER BY id")]


def test_a_genesis_witness_cosignature_is_stored(witnessed: Cli, log_key: Path) -> None:
    note = checkpoint(witnessed, log_key, "cp1.txt")
    result = cosign(witnessed, note, log_key, who="DIO-01")
    assert result.exit_code == 0, result.output
    cosigned = witnessed.folder / "cosigned.txt"
    cosigned.write_text(result.output)
    added = witnessed.ok("witness", "add", str(cosigned))
    assert added.output.startswith(f"cosignature by DIO-01 at {T0} stored with the checkpoint")
    (stored,) = stored_notes(witnessed)
    assert [s.name for s in parse_note(stored)[1]] == ["cli-ledger", "DIO-01"]
    assert witnessed.ok("verify").output.startswith("intact")


def test_a_genesis_witness_cosignature_counts_in_the_witness_window(witnessed: Cli,
                                                                   log_key: Path) -> None:
    note = checkpoint(witnessed, log_key, "cp1.txt")
    cosigned = witnessed.folder / "cosigned.txt"
    # DIO-01 saw the checkpoint at T0 (2030): a step recorded after it claims an earlier time.
    cosigned.write_text(cosign(witnessed, note, log_key, who="DIO-01").output)
    witnessed.ok("witness", "add", str(cosigned))
    witnessed.ok(*witnessed.handover_args())
    result = witnessed("verify", "--json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.output)["findings"]
    assert finding["code"] == "RECORDED_AT_OUTSIDE_WITNESS_WINDOW"
    assert finding["evidence"]["witness"] == "DIO-01"
    assert finding["evidence"]["cosigned_at"] == T0


def test_a_witness_neither_named_nor_enrolled_is_refused_and_nothing_written(
        witnessed: Cli, log_key: Path) -> None:
    witness_key(witnessed, "OTHER-01")
    note = checkpoint(witnessed, log_key, "cp1.txt")
    cosigned = witnessed.folder / "cosigned.txt"
    cosigned.write_text(cosign(witnessed, note, log_key, who="OTHER-01").output)
    before = witnessed.db_digest()
    refused = witnessed("witness", "add", str(cosigned))
    assert (refused.exit_code, refused.output) == (
        4, "error: cosignature by OTHER-01 refused: OTHER-01 is neither enrolled nor a "
           "witness named in the genesis; only enrolled inspectors and the genesis's "
           "witnesses witness checkpoints\n")
    assert witnessed.db_digest() == before


def test_a_key_that_is_not_the_genesis_witness_key_is_refused(witnessed: Cli,
                                                              log_key: Path) -> None:
    # Someone signs as DIO-01 with another key (their own, saved under DIO-01's name).
    write_key_pair(witnessed.keys / "IMPOSTOR.key", "DIO-01", fixed_key("IMPOSTOR"),
                   b"passphrase of DIO-01")
    note = checkpoint(witnessed, log_key, "cp1.txt")
    result = witnessed("witness", "cosign", str(note), "--key",
                       str(witnessed.keys / "IMPOSTOR.key"), "--passphrase-file",
                       witnessed.secret("DIO-01"), "--log-key", f"{log_key}.pub", "--state",
                       str(witnessed.folder / "w"), "--time", str(T0))
    cosigned = witnessed.folder / "cosigned.txt"
    cosigned.write_text(result.output)
    refused = witnessed("witness", "add", str(cosigned))
    assert (refused.exit_code, refused.output) == (
        4, "error: cosignature by DIO-01 refused: it does not verify with DIO-01's key in "
           "the ledger\n")


def test_a_person_cannot_be_enrolled_under_a_genesis_witness_id(witnessed: Cli) -> None:
    before = witnessed.db_digest()
    write_key_pair(witnessed.folder / "someone.key", "DIO-01", fixed_key("SOMEONE"), None)
    refused = witnessed("person", "enrol", "DIO-01", "--name", "Someone", "--role", "inspector",
                        "--unit", "Unit", "--public-key",
                        str(witnessed.folder / "someone.key.pub"), *witnessed.authority())
    assert refused.exit_code == 2
    assert refused.output == ("error: DIO-01 is a witness the genesis named; enrol the person "
                              "under another id\n")
    assert witnessed.db_digest() == before


@pytest.mark.parametrize("spec, message", [
    ("DIO-01", "--witness DIO-01: give NAME=PUBFILE, e.g. --witness DIO-01=dio01.key.pub"),
    ("DIO-01=", "--witness DIO-01=: give NAME=PUBFILE, e.g. --witness DIO-01=dio01.key.pub"),
    ("bad name={pub}", "--witness bad name={pub}: the name "),
    ("DIO-02={pub}", "--witness DIO-02={pub}: {pub} is the key of DIO-01, not DIO-02"),
    ("cli-ledger={named}", "--witness cli-ledger: cli-ledger is the ledger id (the log key's "
                         "name); name the witness otherwise"),
    ("DIO-01={folder}/missing.pub", "public key file {folder}/missing.pub not found"),
])
def test_a_bad_witness_option_is_one_line_and_writes_nothing(cli: Cli, spec: str,
                                                              message: str) -> None:
    pub = witness_key(cli, "DIO-01")
    write_key_pair(cli.folder / "named.key", "cli-ledger", fixed_key("NAMED"), None)
    fill = {"pub": str(pub), "folder": str(cli.folder), "named": f"{cli.folder}/named.key.pub"}
    result = cli(*init_args(cli, "--witness", spec.format(**fill)))
    assert result.exit_code != 0
    (line,) = result.output.splitlines()
    assert line.startswith("error: " + message.format(**fill)), line
    assert not cli.db.exists()


def test_a_witness_named_twice_is_refused(cli: Cli) -> None:
    pub = witness_key(cli, "DIO-01")
    result = cli(*init_args(cli, "--witness", f"DIO-01={pub}", "--witness", f"DIO-01={pub}"))
    assert (result.exit_code, result.output) == (
        2, "error: --witness DIO-01 is given twice; name each witness once\n")
    assert not cli.db.exists()


def test_a_witness_with_the_authority_key_or_the_log_key_is_refused(cli: Cli,
                                                                     log_key: Path) -> None:
    authority = cli.key("AUTH-01") + ".pub"
    # The authority's own .pub names AUTH-01: a witness of that name is the authority.
    result = cli(*init_args(cli, "--witness", f"AUTH-01={authority}"))
    assert (result.exit_code, result.output) == (
        2, "error: --witness AUTH-01: AUTH-01 is the authority's id; name the witness "
           "otherwise\n")
    write_key_pair(cli.folder / "same.key", "DIO-01", fixed_key("AUTH-01"), None)
    result = cli(*init_args(cli, "--witness", f"DIO-01={cli.folder / 'same.key.pub'}"))
    assert (result.exit_code, result.output) == (
        2, "error: --witness DIO-01: its key is already the authority AUTH-01's; every "
           "witness needs a key of its own ('custody keys new')\n")
    write_key_pair(cli.folder / "lw.key", "DIO-01", fixed_key("LOG"), None)
    result = cli(*init_args(cli, "--log-key", f"{log_key}.pub",
                            "--witness", f"DIO-01={cli.folder / 'lw.key.pub'}"))
    assert (result.exit_code, result.output) == (
        2, "error: --witness: a witness's key is the log key; a witness needs a key of its "
           "own ('custody keys new')\n")
    assert not cli.db.exists()
