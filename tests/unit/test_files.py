"""The one file writer (ledger.storage.files): whole or not at all, the mode set before a byte
is written, an existing file replaced or refused, and the folder fsynced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ledger.storage import files
from ledger.storage.files import sync_directories, write_file, writing


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_file_is_written_with_its_mode_and_its_folder_fsynced(tmp_path: Path,
                                                                monkeypatch) -> None:
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_file(tmp_path / "secret", b"s3cret", mode=0o600)
    assert (tmp_path / "secret").read_bytes() == b"s3cret"
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    assert synced == [False, True]  # the file, then its folder
    assert listing(tmp_path) == ["secret"]


def test_without_a_mode_a_new_file_gets_the_umasks(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_file(tmp_path / "plain", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640


def test_a_secret_is_never_readable_by_others_even_half_written(tmp_path: Path) -> None:
    with writing(tmp_path / "key", mode=0o600) as out:
        out.write(b"half")
        [temporary] = [p for p in tmp_path.iterdir()]
        assert temporary.name.startswith(".key.") and temporary.name.endswith(".partial")
        assert stat.S_IMODE(temporary.stat().st_mode) == 0o600
        assert not (tmp_path / "key").exists()
    assert listing(tmp_path) == ["key"]


def test_a_failure_leaves_the_old_file_and_no_temporary_one(tmp_path: Path,
                                                            monkeypatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("yesterday")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_file(target, b"today")
    assert target.read_text() == "yesterday" and listing(tmp_path) == ["report.html"]
    monkeypatch.undo()
    with pytest.raises(RuntimeError):
        with writing(target) as out:
            out.write(b"today")
            raise RuntimeError("the caller failed midway")
    assert target.read_text() == "yesterday" and listing(tmp_path) == ["report.html"]


def test_a_file_that_must_not_be_replaced_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "receipt.proof"
    write_file(target, b"first", replace=False)
    with pytest.raises(FileExistsError):
        write_file(target, b"second", replace=False)
    assert target.read_bytes() == b"first" and listing(tmp_path) == ["receipt.proof"]
    write_file(target, b"second")  # replace=True replaces
    assert target.read_bytes() == b"second"


def test_a_file_system_without_hard_links_gets_a_checked_rename(tmp_path: Path,
                                                               monkeypatch) -> None:
    def no_links(source, target) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    write_file(tmp_path / "a", b"1", replace=False)
    with pytest.raises(FileExistsError):
        write_file(tmp_path / "a", b"2", replace=False)
    assert (tmp_path / "a").read_bytes() == b"1" and listing(tmp_path) == ["a"]


def test_many_files_fsync_each_folder_once_when_asked(tmp_path: Path, monkeypatch) -> None:
    synced: list[str] = []
    monkeypatch.setattr(files, "sync_directory", lambda folder: synced.append(folder.name))
    later: set[Path] = set()
    for name in ("a", "b", "c"):
        write_file(tmp_path / name, b"x", synced_later=later)
    assert synced == [] and later == {tmp_path}
    sync_directories(later)
    assert synced == [tmp_path.name]
