"""The log's Merkle tree and checkpoints, stored beside the events in the same database.

Three tables (names prefixed on PostgreSQL, as the library's own table is):

- ``tree_hashes (idx PRIMARY KEY, hash)``: every stored hash of the tree, addressed by Go
  tlog's *stored hash index* (``ledger.tlog.merkle.stored_hash_index``): leaf n's hash, then
  the hashes of the subtrees leaf n completes — about two 32-byte hashes a leaf.
- ``tree_leaves (leaf PRIMARY KEY, position)``: leaf n (dense: 0, 1, 2 ...) is the event at
  log position ``position`` — the n-th row in log order. The tree's size is the number of
  leaves. Positions and leaves both rise, so a position's leaf is found by binary search in
  O(log n) reads, without another index.
- ``checkpoints (id PRIMARY KEY, size, note)``: signed checkpoint notes, as signed (and later
  cosigned), in the order they were stored.

:meth:`TreeTables.append` runs inside the recorder's write transaction, after the events are
inserted and under the same lock, so the tree never lags or disagrees with the log: leaf data
is recomputed from the stored bytes (``event_hash_of_bytes``), never taken from the caller.
A ledger written before the tree existed is backfilled there, on its first write, in bounded
pages. Everything else here only reads.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from ledger.core.digests import event_hash_of_bytes
from ledger.core.errors import StorageError
from ledger.tlog.merkle import CompactRange, leaf_hash, stored_hash_index

BACKFILL_PAGE = 1000
READ_PAGE = 4096  # stored hashes or leaves per read when the verifier streams the tree


class TreeTables:
    """The SQL of the tree's tables for one backend (``mark``: its parameter placeholder)."""

    def __init__(self, *, mark: str, prefix: str, events: str, position: str,
                 blob: str, integer: str, postgres: bool) -> None:
        self.mark = mark
        self.hashes = f"{prefix}tree_hashes"
        self.leaves = f"{prefix}tree_leaves"
        self.checkpoints = f"{prefix}checkpoints"
        self.events = events
        self.position = position
        self.postgres = postgres
        self.create_statements = [
            f"CREATE TABLE IF NOT EXISTS {self.hashes} (idx {integer} PRIMARY KEY, "
            f"hash {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.leaves} (leaf {integer} PRIMARY KEY, "
            f"position {integer} NOT NULL)",
            (f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (id BIGSERIAL PRIMARY KEY, "
             f"size {integer} NOT NULL, note {blob} NOT NULL)") if postgres else
            (f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (id INTEGER PRIMARY KEY, "
             f"size INTEGER NOT NULL, note BLOB NOT NULL)"),
        ]

    # -- reading (any cursor: the write transaction's, or a read-only one) -----------------

    def size(self, c: Any) -> tuple[int, int | None]:
        """(number of leaves, the last leaf's log position or None)."""
        c.execute(f"SELECT leaf, position FROM {self.leaves} ORDER BY leaf DESC LIMIT 1")
        row = c.fetchone()
        if row is None:
            return 0, None
        return int(row["leaf"]) + 1, int(row["position"])

    def read(self, c: Any, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at ``indexes``, in that order; a missing one is a StorageError."""
        if not indexes:
            return []
        wanted = sorted(set(indexes))
        if self.postgres:
            c.execute(f"SELECT idx, hash FROM {self.hashes} WHERE idx = ANY(%s)", (wanted,))
        else:
            marks = ",".join("?" * len(wanted))
            c.execute(f"SELECT idx, hash FROM {self.hashes} WHERE idx IN ({marks})", wanted)
        found = {int(row["idx"]): bytes(row["hash"]) for row in c.fetchall()}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise StorageError(f"the stored Merkle tree lacks hash {missing[0]}: its tables were "
                               "damaged; run 'custody verify' for details")
        return [found[i] for i in indexes]

    def leaf_position(self, c: Any, leaf: int) -> int | None:
        """The log position of ``leaf``, or None if the tree has no such leaf."""
        c.execute(f"SELECT position FROM {self.leaves} WHERE leaf = {self.mark}", (leaf,))
        row = c.fetchone()
        return None if row is None else int(row["position"])

    def position_leaf(self, c: Any, position: int) -> int | None:
        """The leaf of the event at log ``position``, or None: binary search, O(log n) reads."""
        lo, hi = 0, self.size(c)[0] - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            at = self.leaf_position(c, mid)
            if at is None:
                raise StorageError(f"the stored Merkle tree lacks leaf {mid}: its tables were "
                                   "damaged; run 'custody verify' for details")
            if at == position:
                return mid
            if at < position:
                lo = mid + 1
            else:
                hi = mid - 1
        return None

    def hash_page(self, c: Any, after: int | None, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored hashes (index, hash) with index above ``after``, in order."""
        where = "" if after is None else f"WHERE idx > {self.mark} "
        c.execute(f"SELECT idx, hash FROM {self.hashes} {where}ORDER BY idx LIMIT {self.mark}",
                  ([] if after is None else [after]) + [limit])
        return self._pairs(c)

    def leaf_page(self, c: Any, after: int | None, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` stored leaves (leaf, position) with leaf above ``after``, in order."""
        where = "" if after is None else f"WHERE leaf > {self.mark} "
        c.execute(f"SELECT leaf, position FROM {self.leaves} {where}ORDER BY leaf "
                  f"LIMIT {self.mark}", ([] if after is None else [after]) + [limit])
        return self._pairs(c)

    def _pairs(self, c: Any) -> list[tuple[Any, Any]]:
        """The executed query's two-column rows as tuples, values as stored: the verifier
        reads millions of them, and on SQLite plain tuples cost half what a ``sqlite3.Row``
        each (the library's row factory) and a conversion a value do. The first column is an
        integer key on both backends; SQLite may hold any type in the second, which the
        reader must allow."""
        if self.postgres:
            return [tuple(r.values()) for r in c.fetchall()]  # dict rows
        c.sqlite_cursor.row_factory = None  # the library wraps sqlite3's cursor
        return c.fetchall()  # type: ignore[no-any-return]

    def checkpoint_rows(self, c: Any) -> list[tuple[int, int, bytes]]:
        """Every stored checkpoint (id, size, note bytes), in the order they were stored."""
        c.execute(f"SELECT id, size, note FROM {self.checkpoints} ORDER BY id")
        return [(int(r["id"]), int(r["size"]), bytes(r["note"])) for r in c.fetchall()]

    def largest_checkpoints(self, c: Any, limit: int) -> list[tuple[int, int, bytes]]:
        """The ``limit`` stored checkpoints of the largest sizes (id, size, note), largest
        first, the newest first among equals."""
        c.execute(f"SELECT id, size, note FROM {self.checkpoints} ORDER BY size DESC, id DESC "
                  f"LIMIT {self.mark}", (limit,))
        return [(int(r["id"]), int(r["size"]), bytes(r["note"])) for r in c.fetchall()]

    # -- writing (inside the recorder's write transaction only) ----------------------------

    def insert_checkpoint(self, c: Any, size: int, note: bytes) -> None:
        c.execute(f"INSERT INTO {self.checkpoints} (size, note) VALUES ({self.mark}, {self.mark})",
                  (size, note))

    def update_checkpoint(self, c: Any, row_id: int, note: bytes) -> None:
        """Replace a stored note by the same checkpoint with more signatures (cosignatures)."""
        c.execute(f"UPDATE {self.checkpoints} SET note = {self.mark} WHERE id = {self.mark}",
                  (note, row_id))

    def append(self, c: Any, new: Sequence[tuple[int, bytes]]) -> int:
        """Add leaves for the events just inserted (``(position, stored bytes)`` in log order),
        after backfilling any earlier events the tree does not hold yet; return the new size."""
        if not new:
            return self.size(c)[0]
        # One round trip tells whether the tree holds every earlier event; only when it
        # does not (an older ledger, a copy) is there a backfill to do.
        m = self.mark
        c.execute(f"SELECT (SELECT leaf FROM {self.leaves} ORDER BY leaf DESC LIMIT 1) AS leaf, "
                  f"(SELECT position FROM {self.leaves} ORDER BY leaf DESC LIMIT 1) AS position, "
                  f"(SELECT MAX({self.position}) FROM {self.events} WHERE {self.position} < {m}) "
                  "AS below", (new[0][0],))
        row = c.fetchone()
        size = 0 if row["leaf"] is None else int(row["leaf"]) + 1
        below, last = row["below"], row["position"]
        if below is not None and (last is None or int(below) > int(last)):
            size = self.backfill(c, before=new[0][0])
        return self._extend(c, size, new)

    def backfill(self, c: Any, before: int | None = None) -> int:
        """Add leaves for every stored event (before log position ``before``) the tree does
        not hold yet, in bounded pages: a ledger written before the tree existed (or by an
        older version), or rows copied in without it (``copy.py``). Return the new size."""
        size, last = self.size(c)
        while True:
            conditions, params = [], []
            if last is not None:
                conditions.append(f"{self.position} > {self.mark}")
                params.append(last)
            if before is not None:
                conditions.append(f"{self.position} < {self.mark}")
                params.append(before)
            where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
            c.execute(f"SELECT {self.position} AS position, state FROM {self.events} {where}"
                      f"ORDER BY {self.position} LIMIT {self.mark}", [*params, BACKFILL_PAGE])
            rows = [(int(r["position"]), bytes(r["state"])) for r in c.fetchall()]
            if not rows:
                return size
            size = self._extend(c, size, rows)
            last = rows[-1][0]

    def _extend(self, c: Any, size: int, rows: Sequence[tuple[int, bytes]]) -> int:
        frontier = CompactRange.from_stored(size, lambda indexes: self.read(c, indexes))
        hashes, leaves = [], []
        for position, state in rows:
            start = stored_hash_index(0, frontier.size)
            leaves.append((frontier.size, position))
            created = frontier.append(leaf_hash(event_hash_of_bytes(state)))
            hashes.extend((start + i, h) for i, h in enumerate(created))
        if self.postgres:
            # One statement, one round trip, whatever the number of rows.
            c.execute(f"WITH h AS (INSERT INTO {self.hashes} (idx, hash) SELECT * FROM "
                      "unnest(%s::bigint[], %s::bytea[])) "
                      f"INSERT INTO {self.leaves} (leaf, position) SELECT * FROM "
                      "unnest(%s::bigint[], %s::bigint[])",
                      ([i for i, _ in hashes], [h for _, h in hashes],
                       [leaf for leaf, _ in leaves], [p for _, p in leaves]))
            return frontier.size
        c.executemany(f"INSERT INTO {self.hashes} (idx, hash) VALUES (?, ?)", hashes)
        c.executemany(f"INSERT INTO {self.leaves} (leaf, position) VALUES (?, ?)", leaves)
        return frontier.size


class TreeRecorder:
    """Reading the tree and checkpoints through a recorder (mixed into both recorders).

    Read commands open the database read-only and never create a table, so on a ledger
    written before the tree existed every read first asks :meth:`has_tree`."""

    tree: TreeTables
    datastore: Any

    def has_tree(self) -> bool:
        """Whether the tree's tables exist (a read-only open of an older ledger has none)."""
        with self.datastore.transaction(commit=False) as c:
            if self.tree.postgres:
                c.execute("SELECT to_regclass(%s) AS found", (self.tree.leaves,))
                row = c.fetchone()
                return row is not None and row["found"] is not None
            c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (self.tree.leaves,))
            return c.fetchone() is not None

    def tree_size(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            return self.tree.size(c)[0]

    def tree_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        with self.datastore.transaction(commit=False) as c:
            return self.tree.read(c, indexes)

    def leaf_position(self, leaf: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            return self.tree.leaf_position(c, leaf)

    def position_leaf(self, position: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            return self.tree.position_leaf(c, position)

    def stored_hashes(self, page: int = READ_PAGE) -> Iterator[tuple[int, bytes]]:
        """Every stored hash (index, hash) in index order, read ``page`` rows at a time (each
        page in its own read transaction): what the verifier holds against its own tree."""
        return self._paged(self.tree.hash_page, page)

    def stored_leaves(self, page: int = READ_PAGE) -> Iterator[tuple[int, int]]:
        """Every stored leaf (leaf, log position) in leaf order, read ``page`` at a time."""
        return self._paged(self.tree.leaf_page, page)

    def _paged(self, read: Any, page: int) -> Iterator[Any]:
        after = None
        while True:
            with self.datastore.transaction(commit=False) as c:
                rows = read(c, after, page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def checkpoint_rows(self) -> list[tuple[int, int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            return self.tree.checkpoint_rows(c)

    def largest_checkpoints(self, limit: int) -> list[tuple[int, int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            return self.tree.largest_checkpoints(c, limit)

    def insert_checkpoint(self, size: int, note: bytes) -> None:
        with self.datastore.transaction(commit=True) as c:
            self.tree.insert_checkpoint(c, size, note)

    def add_cosignatures(self, merge: Any) -> int:
        """In one write transaction, replace each stored note by ``merge(note)`` where that
        is not None (the same checkpoint, cosigned); return how many rows it matched."""
        matched = 0
        with self.datastore.transaction(commit=True) as c:
            for row_id, _, note in self.tree.checkpoint_rows(c):
                merged = merge(note)
                if merged is None:
                    continue
                matched += 1
                if merged != note:
                    self.tree.update_checkpoint(c, row_id, merged)
        return matched
