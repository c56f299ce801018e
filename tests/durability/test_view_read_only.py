"""Read commands on a ledger this process may not write: answered from the stored view plus
the newer events folded in memory, saying so in a ``note:`` line, and writing nothing.

Tests run as root here, where ``chmod 0444`` stops nobody: the file (or its folder) is made
read-only the way the fault tests do it, by a read-only bind mount in a private mount
namespace, which stops root too."""

from __future__ import annotations

import re
import shlex
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from ledger.application.custody import open_ledger
from ledger.projections import access
from ledger.projections.projection import catch_up
from ledger.projections.view import NAMED, TABLES
from tests.durability import ledger
from tests.durability.faults import in_mount_namespace, run_cli, shell_cli

NOTE = re.compile(r"^note: read-only database: answered from (the stored view at position "
                  r"(\d+)|no stored view) plus (\d+) newer event\(s\) folded in memory "
                  r"\(not saved\), as every read of (\S+) will until its view is saved: run "
                  r"'custody projections rebuild --db (\S+)' with write access to it, or read "
                  r"a writable copy \('custody copy --from (\S+) --to FILE'\)$")


def _checkpoint(db: str) -> None:
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _one_event_behind(app) -> int:
    """Record one more handover of LOT-1, then fold the view again one event short of the
    head (the recorder brought it up to the head); the view's position."""
    ledger.handover(app, "LOT-1", "after the view was saved")
    view = access.writable_view(app)
    view.clear()
    catch_up(view, app.recorder, until=app.last_position() - 1)
    return view.position()


@pytest.fixture
def behind(tmp_path: Path) -> tuple[str, int]:
    """A ledger whose stored view stands one event behind the log: (path, view position)."""
    path = tmp_path / "ledger" / "custody.db"
    path.parent.mkdir()
    db = str(path)
    ledger.create(db, ["LOT-1"])
    with closing(open_ledger(db)) as app:
        position = _one_event_behind(app)
        assert app.last_position() == position + 1
    _checkpoint(db)
    return db, position


def _read_only_file(db: str, *args: str) -> subprocess.CompletedProcess:
    return in_mount_namespace(f"mount --bind -o ro {shlex.quote(db)} {shlex.quote(db)} && "
                              f"exec {shell_cli(db, *args)}")


def _note(result: subprocess.CompletedProcess, db: str) -> tuple[str | None, int]:
    """(the stored view's position, events folded) from the one note line, which names the
    remedy for ``db``: the line is printed once, and only once."""
    (line,) = result.stderr.splitlines()
    found = NOTE.match(line)
    assert found, line
    assert found.group(4, 5, 6) == (db, db, db)
    return found.group(2), int(found.group(3))


def test_status_on_a_read_only_file_folds_the_newer_event_in_memory(behind) -> None:
    db, position = behind
    before = Path(db).read_bytes()

    result = _read_only_file(db, "status", "LOT-1")

    assert result.returncode == 0, result.stderr
    assert _note(result, db) == (str(position), 1)
    line, last = result.stdout.splitlines()
    assert line.startswith("LOT-1 ") and "held by STF-02; last lot.handed_over" in line
    assert last.startswith(f"1 lot(s) as of log position {position + 1}, from the view: "
                           "no error on record")
    assert Path(db).read_bytes() == before
    with closing(open_ledger(db, read_only=True)) as app:
        assert access.stored_view(app).position() == position  # nothing was saved


def test_status_at_a_position_and_presence_on_a_read_only_file(behind) -> None:
    db, position = behind
    before = Path(db).read_bytes()

    at = _read_only_file(db, "status", "--at", str(position), "LOT-1")
    presence = _read_only_file(db, "presence", "--lot", "LOT-1")

    assert at.returncode == 0, at.stderr
    assert _note(at, db) == (str(position), 1)
    line, last = at.stdout.splitlines()
    assert "held by STF-01; last lot.registered at Secure room 1" in line
    assert last.startswith(f"1 lot(s) as of log position {position}, from the view")
    assert presence.returncode == 0, presence.stderr
    assert _note(presence, db) == (str(position), 1)
    registered, handed, last = presence.stdout.splitlines()
    assert " lot.registered " in registered and " lot.handed_over " in handed
    assert handed.startswith(f"{position + 1:>6}  ")
    assert "lot:LOT-1 at Secure room 1: two-police-four-staff v1 met — " in handed
    assert "POL-01 (police)" in handed and "STF-01 (staff)" in handed
    assert last == (f"2 step(s), 0 short of the presence policy; as of log position "
                    f"{position + 1}")
    assert Path(db).read_bytes() == before


def test_history_on_a_read_only_file_shows_the_step_the_view_had_not_saved(behind) -> None:
    db, position = behind
    before = Path(db).read_bytes()

    result = _read_only_file(db, "history", "LOT-1")

    assert result.returncode == 0, result.stderr
    assert _note(result, db) == (str(position), 1)
    assert "lot.handed_over" in result.stdout and "note: after the view was saved" in result.stdout
    assert result.stdout.splitlines()[-1] == (f"2 step(s), as of log position {position + 1}")
    assert Path(db).read_bytes() == before


def test_a_read_only_folder_with_no_view_yet_is_answered_from_the_events_in_memory(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger" / "custody.db"
    path.parent.mkdir()
    db = str(path)
    ledger.create(db, ["LOT-1"])
    # A copy handed over in rollback-journal mode: SQLite cannot open a WAL database in a
    # folder it may not write (it needs the -shm file there), whatever the command. And one
    # from before the view: the recorder keeps a view as it records, so it is dropped here.
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
        for name in NAMED:
            connection.execute(f"DROP VIEW {name}")
        for table in (*TABLES, "tracking"):
            connection.execute(f"DROP TABLE {table}")
    before = sorted((p.name, p.read_bytes()) for p in path.parent.iterdir())
    folder = shlex.quote(str(path.parent))

    result = in_mount_namespace(f"mount --bind -o ro {folder} {folder} && "
                                f"exec {shell_cli(db, 'status', '--json')}")

    assert result.returncode == 0, result.stderr
    with closing(open_ledger(db, read_only=True)) as app:
        last = app.last_position()
        assert access.stored_view(app) is None  # no view was created
    assert _note(result, db) == (None, last)
    assert '"holder": "STF-01"' in result.stdout and f'"log_position": {last}' in result.stdout
    assert sorted((p.name, p.read_bytes()) for p in path.parent.iterdir()) == before


def test_the_same_database_writable_again_saves_the_view_and_says_nothing(behind) -> None:
    db, position = behind
    result = run_cli(db, "status", "LOT-1")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # caught up where it stands: no note
    with closing(open_ledger(db, read_only=True)) as app:
        assert access.stored_view(app).position() == position + 1


def _wal_ledger_in_folder(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "ledger" / "custody.db"
    path.parent.mkdir()
    db = str(path)
    ledger.create(db, ["LOT-1"])
    _checkpoint(db)  # the last connection closed: no -wal or -shm is left beside the file
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    return path, db


def test_a_wal_ledger_on_a_read_only_filesystem_is_read_as_it_stands(tmp_path: Path) -> None:
    # Regression: SQLite must create custody.db-shm to read a WAL file; a read-only folder
    # refused it and every read command said "unable to open database file".
    path, db = _wal_ledger_in_folder(tmp_path)
    assert not Path(f"{db}-shm").exists() and not Path(f"{db}-wal").exists()
    before = sorted((p.name, p.read_bytes()) for p in path.parent.iterdir())
    folder = shlex.quote(str(path.parent))

    result = in_mount_namespace(f"mount --bind -o ro {folder} {folder} && "
                                f"{shell_cli(db, 'verify')} && exec {shell_cli(db, 'history', 'LOT-1')}")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"intact: {db}: ")
    assert "step(s), as of log position" in result.stdout.splitlines()[-1]
    assert sorted((p.name, p.read_bytes()) for p in path.parent.iterdir()) == before


def test_a_wal_ledger_with_unmerged_commits_on_a_read_only_filesystem_says_what_to_do(
        tmp_path: Path) -> None:
    # Commits still in custody.db-wal cannot be read without custody.db-shm: reading the
    # file alone would silently leave them out, so the command refuses and says why.
    path, db = _wal_ledger_in_folder(tmp_path)
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute("CREATE TABLE unmerged (x)")
        connection.commit()
        wal = Path(f"{db}-wal").read_bytes()
    Path(f"{db}-wal").write_bytes(wal)  # as a copy would carry it, without the -shm
    Path(f"{db}-shm").unlink(missing_ok=True)
    folder = shlex.quote(str(path.parent))

    result = in_mount_namespace(f"mount --bind -o ro {folder} {folder} && "
                                f"exec {shell_cli(db, 'status')}")

    assert result.returncode == 5
    assert result.stderr.strip() == (
        f"error: cannot open ledger database {db}: unable to open database file (the folder "
        f"{path.parent} is on a read-only filesystem and custody.db-wal holds commits not yet "
        "in the file: copy the folder somewhere writable and read the copy); check --db or "
        "CUSTODY_DB")


def test_a_copy_made_by_custody_copy_reads_at_once_when_read_only(behind, tmp_path: Path) -> None:
    """The copy carries a view at its head (built by ``custody copy``): read-only, it is read
    as it stands, with no note and nothing folded, where the source it came from (its view one
    event behind) folds in memory and says what to run."""
    db, position = behind
    copy = tmp_path / "copy" / "custody.db"
    copy.parent.mkdir()
    made = run_cli(db, "copy", "--from", db, "--to", str(copy))
    assert made.returncode == 0, made.stderr
    before = Path(copy).read_bytes()

    source = _read_only_file(db, "status", "--json")
    result = _read_only_file(str(copy), "status", "--json")

    assert source.returncode == 0, source.stderr
    assert _note(source, db) == (str(position), 1)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == source.stdout
    assert Path(copy).read_bytes() == before


@pytest.mark.postgres
def test_a_postgres_role_that_may_only_read_hears_the_remedy_once_and_only_when_behind(
        postgres_server, postgres_db: str) -> None:
    import secrets

    import psycopg

    from tests.durability.faults import run_cli as cli

    ledger.create(postgres_db, ["LOT-1"])
    reader = f"reader_{secrets.token_hex(4)}"
    name = postgres_db.rsplit("/", 1)[1]
    with closing(postgres_server.admin()) as admin:
        admin.execute(f"CREATE ROLE {reader} LOGIN")
    try:
        with closing(psycopg.connect(postgres_db, autocommit=True)) as owner:
            owner.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {reader}')
            owner.execute(f"GRANT USAGE ON SCHEMA public TO {reader}")
            owner.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
        as_reader = postgres_db.replace(f"//{postgres_server.user}@", f"//{reader}@", 1)
        label = f"postgresql://{postgres_server.host}:{postgres_server.port}/{name}"

        current = cli(as_reader, "status", "LOT-1")
        assert current.returncode == 0, current.stderr
        assert current.stderr == ""  # the view stands at the head: not a word

        with closing(open_ledger(postgres_db)) as app:
            position = _one_event_behind(app)  # its view emptied: tables (and grants) kept
        behind = cli(as_reader, "status", "LOT-1")
        assert behind.returncode == 0, behind.stderr
        assert _note(behind, label) == (str(position), 1)
        assert "held by STF-02; last lot.handed_over" in behind.stdout
        with closing(open_ledger(postgres_db, read_only=True)) as app:
            assert access.stored_view(app).position() == position  # nothing was saved
    finally:
        with closing(postgres_server.admin()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f"DROP ROLE IF EXISTS {reader}")
