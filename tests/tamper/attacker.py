"""The attacker of the tamper suite: write access to the SQLite file, and nothing else.

They edit, delete, reorder and insert rows of the library's ``stored_events`` table with the
``sqlite3`` module, bypassing the application entirely. They can re-encode a record
canonically and recompute any hash (the formats are public), and sign with the keys of the
people who collude with them — never with the authority's, nor anyone else's.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from eventsourcing.utils import get_topic

from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
from ledger.core import canonical, digests
from ledger.tlog import merkle
from ledger.core.findings import Report
from ledger.domain import events
from ledger.domain.aggregates import AGGREGATE_FOR_START
from ledger.verify import Verifier

Record = dict[str, Any]


@dataclass(frozen=True)
class StoredRow:
    """One row of ``stored_events`` as it sits in the file."""

    position: int
    stream: str
    version: int
    topic: str
    state: bytes

    @property
    def record(self) -> Record:
        return canonical.decode(self.state)

    @property
    def body(self) -> Record:
        return self.record["body"]

    @property
    def event_hash(self) -> str:
        return digests.event_hash_of_bytes(self.state).hex()


class Attacker:
    """Direct, unchecked access to one ledger's SQLite file."""

    def __init__(self, db: Path) -> None:
        self.db = db

    # -- reading -------------------------------------------------------------------------

    def rows(self) -> list[StoredRow]:
        with closing(sqlite3.connect(self.db)) as connection:
            found = connection.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY rowid"
            ).fetchall()
        return [StoredRow(*row) for row in found]

    def row(self, position: int) -> StoredRow:
        (row,) = [r for r in self.rows() if r.position == position]
        return row

    def position(self, stream: str, version: int) -> int:
        """The position of a stream's step, looked up rather than assumed."""
        (row,) = [r for r in self.rows() if (r.stream, r.version) == (stream, version)]
        return row.position

    def last_position(self) -> int:
        return self.rows()[-1].position

    # -- writing -------------------------------------------------------------------------

    def execute(self, *statements: tuple[str, Iterable[Any]]) -> None:
        """Run statements in one transaction, as an attacker with the sqlite3 shell would,
        and rebuild the stored Merkle tree over the result (``retree``)."""
        with closing(sqlite3.connect(self.db)) as connection:
            with connection:
                for sql, params in statements:
                    cursor = connection.execute(sql, tuple(params))
                    assert cursor.rowcount == 1, f"{sql} {params} touched {cursor.rowcount} rows"
                retree(connection)

    def set_state(self, position: int, state: Any) -> None:
        self.execute(("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, position)))

    def set_column(self, position: int, column: str, value: Any) -> None:
        assert column in ("originator_id", "originator_version", "topic")
        self.execute((f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (value, position)))

    def rewrite(self, position: int, change: Callable[[Record], None]) -> StoredRow:
        """Decode a record, change it in place, store its canonical encoding again."""
        record = self.row(position).record
        change(record)
        self.set_state(position, canonical.encode(record))
        return self.row(position)

    def rechain(self, after: int) -> list[int]:
        """Rewrite ``prev`` of every later step of the stream at ``after`` so the chain holds.

        Returns the positions rewritten. Signatures are left alone: the attacker has no keys.
        """
        stream = self.row(after).stream
        head = self.row(after).event_hash
        rewritten = []
        for row in self.rows():
            if row.stream == stream and row.position > after:
                rewritten_row = self.rewrite(row.position,
                                             lambda r, h=head: r["body"].update(prev=h))
                head = rewritten_row.event_hash
                rewritten.append(row.position)
        return rewritten

    def delete(self, *positions: int) -> None:
        self.execute(*[("DELETE FROM stored_events WHERE rowid = ?", (p,)) for p in positions])

    def swap_positions(self, a: int, b: int) -> None:
        """Exchange the log positions (rowids) of two rows; their bytes are untouched."""
        parking = -1
        self.execute(
            ("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (parking, a)),
            ("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (a, b)),
            ("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (b, parking)),
        )

    def drop_primary_key(self) -> None:
        """Rebuild ``stored_events`` without its (stream, version) key, keeping every rowid,
        so that two rows may claim the same step."""
        with closing(sqlite3.connect(self.db)) as connection:
            connection.executescript(
                "BEGIN;"
                "CREATE TABLE unkeyed (originator_id TEXT, originator_version INTEGER,"
                " topic TEXT, state BLOB);"
                "INSERT INTO unkeyed (rowid, originator_id, originator_version, topic, state)"
                " SELECT rowid, originator_id, originator_version, topic, state FROM stored_events;"
                "DROP TABLE stored_events;"
                "ALTER TABLE unkeyed RENAME TO stored_events;"
                "COMMIT;"
            )

    def insert(self, stream: str, version: int, topic: str, state: bytes,
               position: int | None = None) -> int:
        """Insert a row at ``position`` (default: the end of the log); return its position."""
        position = self.last_position() + 1 if position is None else position
        self.execute((
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?, ?)",
            (position, stream, version, topic, state),
        ))
        return position

    def draft_handover(self, lot_stream: str, giver: str, receiver: str,
                       occurred_at: datetime) -> Record:
        """The body of a lot's next handover, chained to its stored head as the app would
        chain it, with the same attendees, seals and count as the head."""
        head = max((r for r in self.rows() if r.stream == lot_stream), key=lambda r: r.position)
        body = head.body
        body.update({"seq": head.version + 1, "prev": head.event_hash, "from": giver,
                     "to": receiver, "occurred_at": canonical.format_timestamp(occurred_at)})
        return body

    def forge(self, body: Record, signers: Iterable[Signer], recorded_at: datetime,
              replayed: dict[str, bytes] | None = None) -> int:
        """Sign ``body`` with keys the attacker holds (plus ``replayed`` signatures lifted from
        elsewhere) and append it, canonical and well-formed: the stream, version and topic
        columns match the body, and a stream's first event names its aggregate's topic.
        """
        digest = digests.signing_digest(body)
        signatures = {s.person_id: s.key.sign(digest) for s in signers}
        record: Record = {
            "body": body,
            "signatures": {**signatures, **(replayed or {})},
            "timestamp": recorded_at,
        }
        event_class = events.EVENT_CLASSES[body["type"]]
        if event_class in AGGREGATE_FOR_START:
            record["originator_topic"] = get_topic(AGGREGATE_FOR_START[event_class])
        return self.insert(body["stream"], body["seq"], events.TOPICS[body["type"]],
                           canonical.encode(record))


def retree(connection: sqlite3.Connection) -> None:
    """Rewrite the stored tree's tables to match the events as they now stand: the attacker
    can recompute any hash, so every test here sees only what its attack does to the events
    (a tree left stale would be a ROOT_MISMATCH of its own: tests/backends/
    test_stored_tree_audit.py)."""
    connection.execute("DELETE FROM tree_hashes")
    connection.execute("DELETE FROM tree_leaves")
    tree = merkle.CompactRange()
    # Text in the state column reads as text (and hashes as no bytes), as the ledger reads it.
    connection.text_factory = lambda data: data.decode("utf-8", "replace")
    rows = connection.execute("SELECT rowid, state FROM stored_events ORDER BY rowid").fetchall()
    for position, state in rows:
        stored = bytes(state) if isinstance(state, (bytes, bytearray, memoryview)) else b""
        start = merkle.stored_hash_index(0, tree.size)
        connection.execute("INSERT INTO tree_leaves (leaf, position) VALUES (?, ?)",
                           (tree.size, position))
        created = tree.append(merkle.leaf_hash(digests.event_hash_of_bytes(stored)))
        connection.executemany("INSERT INTO tree_hashes (idx, hash) VALUES (?, ?)",
                               [(start + i, h) for i, h in enumerate(created)])


def verify(db: Path) -> Report:
    """Reopen the tampered file through the public API and run the auditor's verifier.

    It runs twice: in one process, and with two worker processes on pages of three rows (so
    the workers run pages ahead with stale keyrings) keeping one stream's state in memory (so
    every other one goes to disk and back), the log audited by its helper process. Both must
    report exactly the same."""
    app = open_ledger(str(db))
    try:
        serial = Verifier(app.recorder).run()
        parallel = Verifier(app.recorder, workers=2, page_size=3, resident=1,
                            helper_from=0).run()
    finally:
        app.close()
    assert parallel.findings == serial.findings
    assert (parallel.events, parallel.streams, parallel.signatures) == (
        serial.events, serial.streams, serial.signatures)
    return serial


def located(report: Report) -> set[tuple[str, int | None, str | None]]:
    """Every finding as (code, position, stream)."""
    return {(f.code, f.position, f.stream) for f in report.findings}


def error_positions(report: Report) -> set[int | None]:
    return {f.position for f in report.errors}


def signers_failing(report: Report, position: int) -> set[str]:
    """Who has a SIGNATURE_INVALID finding at ``position``."""
    return {f.evidence["person"] for f in report.findings
            if f.code == "SIGNATURE_INVALID" and f.position == position}
