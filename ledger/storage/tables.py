"""The library's events table, read with plain SQL where its recorder has no query for it.

SQLite: ``stored_events``, position = rowid. PostgreSQL: ``<application>_events`` in the
datastore's schema, position = ``notification_id``.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from ledger.core import digests


def is_postgres(recorder: ApplicationRecorder) -> bool:
    """Whether the recorder is (a subclass of) the library's PostgreSQL one."""
    return any(cls.__module__.startswith("eventsourcing.postgres")
               for cls in type(recorder).__mro__)


def table(recorder: ApplicationRecorder) -> str:
    name = recorder.events_table_name  # type: ignore[attr-defined]
    if is_postgres(recorder):
        return f'"{recorder.datastore.schema}"."{name}"'  # type: ignore[attr-defined]
    return name


def count(recorder: ApplicationRecorder) -> int:
    """How many events the table holds."""
    with recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"SELECT count(*) AS n FROM {table(recorder)}")
        return int(_value(cursor.fetchone(), "n"))


def positions_if_stored(recorder: ApplicationRecorder,
                        events: list[tuple[str, int, str]]) -> dict[str, int] | None:
    """For (stream, version, event hash) triples: each stream's position if every one of
    them is stored with exactly that hash, else None. Tells a commit whose acknowledgement
    was lost (and which the library then retried into a duplicate-key error) from a write
    that really lost a race."""
    postgres = is_postgres(recorder)
    position = "notification_id" if postgres else "rowid"
    mark = "%s" if postgres else "?"
    found: dict[str, int] = {}
    with recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        for stream, version, event_hash in events:
            cursor.execute(f"SELECT {position} AS position, state FROM {table(recorder)} "
                           f"WHERE originator_id = {mark} AND originator_version = {mark}",
                           (stream, version))
            row = cursor.fetchone()
            if row is None or digests.event_hash_of_bytes(
                    bytes(_value(row, "state"))).hex() != event_hash:
                return None
            found[stream] = int(_value(row, "position"))
    return found


def _value(row: Any, name: str) -> Any:
    return row[name]  # sqlite3.Row and psycopg's dict rows both index by name
