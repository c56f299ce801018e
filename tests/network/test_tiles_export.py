"""`custody log tiles DIR`: the log as static C2SP tlog-tiles — what is written, that it is
what the stored tree and events hold, incrementally, atomically, and never a fork of what
DIR published before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.application.log import TransparencyLog
from ledger.application.tiles import export_tiles
from ledger.core.digests import event_hash_of_bytes
from ledger.core.errors import InputError, VerificationFailed
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.merkle import leaf_hash
from ledger.tlog.note import parse_note
from ledger.tlog.tiles import Tile, parse_bundle, parse_tile
from tests.conftest import World
from tests.network.conftest import LOG, checkpoint_at, custody, more_steps, name_log_key


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_the_export_is_the_stored_tree_the_events_and_the_checkpoint(logged: World,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "public"
    done = export_tiles(logged.app, out)
    assert (done.old_size, done.size, done.uncovered) == (0, 18, 0)
    published = files(out)
    assert sorted(published) == ["checkpoint", "custody/events/000.p/18",
                                 "tile/0/000.p/18", "tile/entries/000.p/18"]
    assert done.files == 4 and done.bytes == sum(len(b) for b in published.values())
    tlog = TransparencyLog(logged.app)
    assert published["checkpoint"] == tlog.stored_version(done.checkpoint)
    checkpoint = Checkpoint.parse(parse_note(published["checkpoint"])[0])
    assert (checkpoint.size, checkpoint.root) == (18, tlog.root(18))
    tile = Tile(0, 0, 18)
    hashes = parse_tile(published[tile.path()], tile)
    assert hashes == tlog.read(tile.indexes())
    entries = parse_bundle(published["tile/entries/000.p/18"], 18)
    events = parse_bundle(published["custody/events/000.p/18"], 18, 4)
    for i, (entry, event, leaf) in enumerate(zip(entries, events, hashes)):
        assert entry == event_hash_of_bytes(event) == tlog.event_hash_at(i + 1)
        assert leaf_hash(entry) == leaf
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]
    assert oct(os.stat(out / "checkpoint").st_mode & 0o777) == "0o644"


def test_a_second_export_writes_only_new_and_grown_tiles_and_drops_outgrown_partials(
        generated, tmp_path: Path) -> None:
    out = tmp_path / "public"
    checkpoint_at(generated, 100)
    first = export_tiles(generated, out)
    assert (first.old_size, first.size, first.uncovered) == (0, 100, 601)
    again = export_tiles(generated, out)
    assert (again.files, again.old_size, again.size) == (0, 100, 100)  # nothing new
    checkpoint_at(generated, 300)  # tile 0 full, tile 1 partial
    grown = export_tiles(generated, out)
    assert (grown.old_size, grown.size) == (100, 300)
    published = files(out)
    # The partials of size 100 are gone: their full tile is there.
    assert sorted(published) == [
        "checkpoint", "custody/events/000", "custody/events/001.p/44", "tile/0/000",
        "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/44"]
    full = (out / "tile/0/000").stat()
    checkpoint_at(generated, 310)
    third = export_tiles(generated, out)
    # The grown partial tile, both bundles, and the checkpoint; tile/1/000.p/1 is the same.
    assert third.files == 4
    assert sorted(set(files(out)) - set(published)) == [
        "custody/events/001.p/54", "tile/0/001.p/54", "tile/entries/001.p/54"]
    assert (out / "tile/0/001.p/44").exists()  # still there for readers of size 300
    # A full tile is never written again.
    assert (out / "tile/0/000").stat().st_ino == full.st_ino
    assert (out / "tile/0/000").stat().st_mtime_ns == full.st_mtime_ns
    checkpoint_at(generated, 701)
    last = export_tiles(generated, out)
    assert (last.old_size, last.size, last.uncovered) == (310, 701, 0)
    assert not (out / "tile/0/001.p").exists() and (out / "tile/0/002.p/189").exists()
    tlog = TransparencyLog(generated)
    for n in range(3):
        tile = Tile(0, n, 256 if n < 2 else 189)
        assert parse_tile((out / tile.path()).read_bytes(), tile) == tlog.read(tile.indexes())


def test_events_after_the_newest_checkpoint_wait_for_the_next(logged: World,
                                                             tmp_path: Path) -> None:
    more_steps(logged, "LOT-1", 2)
    done = export_tiles(logged.app, tmp_path / "public")
    assert (done.size, done.uncovered) == (18, 2)


def test_publishing_a_ledger_that_forks_what_the_folder_published_is_refused(
        logged: World, twin: World, tmp_path: Path) -> None:
    out = tmp_path / "public"
    export_tiles(logged.app, out)
    before = files(out)
    # The twin has the same id and keys, and another history after the enrolments.
    twin.register("LOT-9")
    twin.handover("LOT-9", "STF-01", "STF-03")
    name_log_key(twin)
    more_steps(twin, "LOT-9", 5)
    TransparencyLog(twin.app).sign_checkpoint(LOG)
    with pytest.raises(VerificationFailed, match="does not extend: publishing would fork"):
        export_tiles(twin.app, out)
    assert files(out) == before


def test_a_ledger_without_a_log_key_or_a_checkpoint_publishes_nothing(day: World,
                                                                     tmp_path: Path) -> None:
    with pytest.raises(InputError, match="names no log key"):
        export_tiles(day.app, tmp_path / "a")
    name_log_key(day)
    with pytest.raises(InputError, match="no stored checkpoint is signed by the log's key"):
        export_tiles(day.app, tmp_path / "b")
    assert not (tmp_path / "b" / "checkpoint").exists()


def test_an_export_killed_before_its_checkpoint_is_finished_by_the_next(
        logged: World, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "public"
    export_tiles(logged.app, out)
    more_steps(logged, "LOT-1", 3)
    TransparencyLog(logged.app).sign_checkpoint(LOG)
    import ledger.application.tiles as tiles

    real = tiles.write_file

    def dies_at_the_checkpoint(path: Path, data: bytes, **kw) -> None:
        if path.name == "checkpoint":
            raise OSError(28, "No space left on device")
        real(path, data, **kw)

    monkeypatch.setattr(tiles, "write_file", dies_at_the_checkpoint)
    with pytest.raises(InputError, match="No space left on device"):
        export_tiles(logged.app, out)
    # Readers still see the old checkpoint, whose tiles are all there.
    assert Checkpoint.parse(parse_note((out / "checkpoint").read_bytes())[0]).size == 18
    assert (out / "tile/0/000.p/18").exists()
    monkeypatch.setattr(tiles, "write_file", real)
    assert export_tiles(logged.app, out).size == 21


def test_log_tiles_through_the_cli(logged: World, tmp_path: Path) -> None:
    logged.app.close()
    out = tmp_path / "public"
    result = custody("--db", str(logged.db), "log", "tiles", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"{out}: published the checkpoint of 18 events (before: 0); "
                             f"4 files, {sum(len(b) for b in files(out).values())} bytes "
                             "written\n")
    again = custody("--db", str(logged.db), "log", "tiles", str(out))
    assert again.stdout == f"{out}: already publishes the checkpoint of 18 events; nothing written\n"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    refused = custody("--db", str(logged.db), "log", "tiles", str(a_file))
    assert refused.returncode == 2
    assert refused.stderr.endswith(f"Error: Invalid value for 'DIR': Directory '{a_file}' is a "
                                   "file.\n")
    assert a_file.read_text() == "x"


def test_log_tiles_of_a_ledger_without_a_log_key_is_one_error_line(day: World,
                                                                   tmp_path: Path) -> None:
    day.app.close()
    result = custody("--db", str(day.db), "log", "tiles", str(tmp_path / "public"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: this ledger names no log key")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "public").exists() or not any((tmp_path / "public").iterdir())


def test_an_event_that_no_longer_hashes_to_its_leaf_stops_the_export(logged: World,
                                                                    tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    logged.app.close()
    with closing(sqlite3.connect(logged.db)) as c, c:
        state = c.execute("SELECT state FROM stored_events WHERE rowid = 5").fetchone()[0]
        c.execute("UPDATE stored_events SET state = ? WHERE rowid = 5",
                  (state.replace(b"Person", b"Pirson"),))
    result = custody("--db", str(logged.db), "log", "tiles", str(tmp_path / "public"))
    assert result.returncode == 5
    assert result.stderr == ("error: the event at position 5 does not hash to leaf 4 of the "
                             "stored tree; nothing more is published: run 'custody verify'\n")
    assert not (tmp_path / "public" / "checkpoint").exists()


def test_checkpoints_that_do_not_open_are_passed_over_however_many(logged: World,
                                                                  tmp_path: Path) -> None:
    from tests.conftest import fixed_key
    from ledger.tlog.note import Ed25519Signer, sign_note

    tlog = TransparencyLog(logged.app)
    good = tlog.stored_version(tlog.sign_checkpoint(LOG))
    forged = sign_note(Checkpoint("test-ledger", 18, tlog.root(18)).format(),
                       Ed25519Signer("test-ledger", fixed_key("NOT-THE-LOG")))
    for _ in range(20):  # more than the export reads first
        logged.app.recorder.insert_checkpoint(18, forged)
    done = export_tiles(logged.app, tmp_path / "public")
    assert done.checkpoint == good and (tmp_path / "public" / "checkpoint").read_bytes() == good
