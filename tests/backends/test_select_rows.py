"""``select_rows``: the log's rows as plain tuples, read by the verifier and the view's fold
in place of the library's notifications. It must give exactly what the notifications give,
on both backends, for any start and limit, and for rows damaged by hand."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from ledger.domain.stored import raw, read_rows


def notified(recorder, start, limit):
    return [raw(note) for note in recorder.select_notifications(start=start, limit=limit)]


def test_rows_are_the_notifications_values_for_any_start_and_limit(world, raw) -> None:
    world.register("LOT-1")
    recorder = world.app.recorder
    every = notified(recorder, None, 1000)
    assert len(every) == raw.count() >= 12
    assert recorder.select_rows(None, 1000) == every
    assert [row[0] for row in every] == raw.positions()
    first = every[0][0]
    assert recorder.select_rows(first + 3, 4) == every[3:7] == notified(recorder, first + 3, 4)
    assert recorder.select_rows(every[-1][0], 10) == every[-1:]
    assert recorder.select_rows(every[-1][0] + 1, 10) == []
    assert recorder.select_rows(None, 2) == every[:2]


def test_a_recorder_without_select_rows_is_read_through_its_notifications(world) -> None:
    class Library:
        """Any other recorder: only the library's interface."""
        select_notifications = world.app.recorder.select_notifications

    assert read_rows(Library(), None, 50) == read_rows(world.app.recorder, None, 50)
    assert read_rows(Library(), 5, 3) == world.app.recorder.select_rows(5, 3)


def test_rows_damaged_by_hand_read_as_stored(tmp_path) -> None:
    """SQLite keeps any type in any column: a row typed in by hand below position 1, with
    no version, a number for its stream and text for its bytes, reads the same both ways."""
    from tests.conftest import build_world

    world = build_world(tmp_path / "custody.db")
    try:
        with closing(sqlite3.connect(world.db)) as connection, connection:
            connection.execute("INSERT INTO stored_events (rowid, originator_id, "
                               "originator_version, topic, state) VALUES (-5, 42, NULL, "
                               "'no topic', 'not bytes')")
        recorder = world.app.recorder
        rows = recorder.select_rows(None, 1000)
        assert rows[0] == (-5, "42", None, "no topic", "not bytes")
        assert rows == notified(recorder, None, 1000)
    finally:
        world.app.close()
