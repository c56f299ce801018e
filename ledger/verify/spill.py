"""A dict that keeps its most recently used entries in memory and spills the rest to disk.

The verifier keeps one small state per stream: the head of each chain, the state of each lot
and room. A province's ledger reaches ten million events and over a million lots, so those
dicts would grow with the ledger. :class:`SpillMap` is a drop-in for them: at most
``capacity`` values stay in memory (least recently used out first); the others are written
(in the map's own compact encoding, or pickled) into a private temporary SQLite file and read
back on a miss. Nothing touches the disk before the first eviction, so a small ledger runs in
memory, and a large one in flat memory.

Values are encoded when they leave memory, so a value must not be mutated in place after
another call may have evicted it. The verifier's states are frozen and replaced, never mutated.
"""

from __future__ import annotations

import heapq
import os
import pickle
import sqlite3
import tempfile
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, MutableMapping, TypeVar

from ledger.core.errors import ResourceError

V = TypeVar("V")
BLOCK = 256  # most entries evicted at once, in one transaction: 4x cheaper than one at a time
PAGE = 1024  # keys read from disk at once by __iter__
_PICKLED = b"\x80"  # the first byte of every pickle (protocol 2 and later)
_MISSING: Any = object()
_ABSENT: Any = object()


def _remove(db: sqlite3.Connection, path: str) -> None:
    db.close()
    os.unlink(path)


class SpillMap(MutableMapping[str, V]):
    """A str-keyed mapping holding at most `capacity` values in memory (LRU); the rest live in
    a private temporary SQLite file that is deleted on close()."""

    def __init__(self, capacity: int = 4096, directory: str | None = None, *,
                 encode: Callable[[str, V], bytes] | None = None,
                 decode: Callable[[bytes], V] | None = None) -> None:
        """``encode`` (a key and its value to bytes that do not start with 0x80) and
        ``decode`` (those bytes back to the value), when given, write evicted entries in that
        encoding instead of pickling them: a compact one keeps the file, and what is read
        and written of it, small."""
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._capacity = capacity
        self._block = max(1, min(BLOCK, capacity // 16))
        self._directory = directory
        self._mem: OrderedDict[str, V] = OrderedDict()  # least recently used first
        self._stored: set[str] = set()  # keys in memory that also have a row on disk
        self._rows = 0  # rows on disk
        self._absent: Any = _MISSING  # the last key a read found nowhere (read, then set)
        self._db: sqlite3.Connection | None = None  # opened on the first eviction
        self._close: weakref.finalize | None = None
        # Rows in another encoding (evicted ones with ``encode``, or a saved audit state's
        # entries bulk-loaded by load_encoded) are decoded by this; pickles start with 0x80.
        self._encode = encode
        self._decode: Callable[[bytes], V] | None = decode

    def get(self, key: str, default: Any = None) -> Any:
        try:
            self._mem.move_to_end(key)
        except KeyError:
            pass
        else:
            return self._mem[key]
        return self._load(key, default)

    def __getitem__(self, key: str) -> V:
        return self.get(key, _MISSING)  # _load raises KeyError for _MISSING

    def __contains__(self, key: object) -> bool:
        # found on disk, it is read back: the verifier asks `in` just before reading the value
        return key in self._mem or isinstance(key, str) and self._load(key, _ABSENT) is not _ABSENT

    def __setitem__(self, key: str, value: V) -> None:
        mem = self._mem
        try:
            mem.move_to_end(key)
        except KeyError:
            pass
        else:
            mem[key] = value
            return
        # new to memory: does the disk hold an older value (unless a read just found none)?
        if key != self._absent and self._row(key) is not None:
            self._stored.add(key)
        self._absent = _MISSING
        if len(mem) >= self._capacity:
            self._evict()
        mem[key] = value

    def __delitem__(self, key: str) -> None:
        in_memory = self._mem.pop(key, _MISSING) is not _MISSING
        on_disk = False
        if self._db is not None and (not in_memory or key in self._stored):
            on_disk = self._db.execute("DELETE FROM spill WHERE key = ?", (key,)).rowcount > 0
            self._stored.discard(key)
            self._rows -= on_disk
        if not (in_memory or on_disk):
            raise KeyError(key)

    def __len__(self) -> int:
        return len(self._mem) + self._rows - len(self._stored)

    def __iter__(self) -> Iterator[str]:
        in_memory = list(self._mem)  # a snapshot: reading values reorders and evicts
        yield from in_memory
        seen, after, last = set(in_memory), ">=", ""
        while self._db is not None:  # paged by key: rows rewritten meanwhile keep their place
            page = self._db.execute(f"SELECT key FROM spill WHERE key {after} ? ORDER BY key "
                                    f"LIMIT {PAGE}", (last,)).fetchall()
            if not page:
                return
            yield from (key for (key,) in page if key not in seen)
            after, last = ">", page[-1][0]

    def load_encoded(self, rows: Iterable[tuple[str, bytes]],
                     decode: Callable[[bytes], V]) -> int:
        """Put entries straight on disk in their own encoding (``decode`` turns one back into
        a value when it is first read), without building or pickling a value: how a saved
        state of a million lots is loaded in seconds. The keys must be new; returns how
        many were loaded."""
        self._decode = decode
        self._absent = _MISSING  # a key read as absent before may be among them
        db = self._db or self._open()
        before = self._rows
        with scratch_space(self._directory):
            db.execute("BEGIN")
            for block in _blocks(rows, 4096):
                db.executemany("INSERT INTO spill (key, value) VALUES (?, ?)", block)
                self._rows += len(block)
            db.execute("COMMIT")
        return self._rows - before

    def sorted_encoded(self) -> Iterator[tuple[str, V | None, bytes | None]]:
        """Every entry in key order as (key, value, None), or (key, None, encoded) for one
        on disk in the map's own encoding (``encode``'s, or that of :meth:`load_encoded`),
        read without changing what is held in memory: a large map is written out again
        without decoding or re-encoding what did not change."""
        in_memory = [(key, value, None) for key, value in sorted(self._mem.items())]
        held = set(self._mem)

        def on_disk() -> Iterator[tuple[str, V | None, bytes | None]]:
            after, last = ">=", ""
            while self._db is not None:
                page = self._db.execute(f"SELECT key, value FROM spill WHERE key {after} ? "
                                        f"ORDER BY key LIMIT {PAGE}", (last,)).fetchall()
                if not page:
                    return
                for key, blob in page:
                    if key in held:
                        continue  # memory holds the newer value
                    if blob[:1] == _PICKLED:
                        yield key, pickle.loads(blob), None
                    else:
                        yield key, None, blob
                after, last = ">", page[-1][0]

        yield from heapq.merge(in_memory, on_disk(), key=lambda item: item[0])

    def sorted_items(self) -> Iterator[tuple[str, V]]:
        """Every entry in key order, read without changing what is held in memory."""
        for key, value, blob in self.sorted_encoded():
            yield key, (value if blob is None else self._unpack(blob))

    def clear(self) -> None:
        self._mem.clear()
        self._stored.clear()
        self._rows = 0
        if self._db is not None:
            self._db.execute("DELETE FROM spill")

    def close(self) -> None:
        """Forget every entry and delete the file. Idempotent."""
        self._mem.clear()
        self._stored.clear()
        self._rows, self._db = 0, None
        if self._close is not None:
            self._close()  # runs once: here, or when the map is collected

    def __enter__(self) -> SpillMap[V]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, key: str) -> tuple[bytes] | None:
        if self._db is None:
            return None
        return self._db.execute("SELECT value FROM spill WHERE key = ?", (key,)).fetchone()

    def _load(self, key: str, default: Any) -> Any:
        row = self._row(key)
        if row is None:
            self._absent = key
            if default is _MISSING:
                raise KeyError(key)
            return default
        value = self._unpack(row[0])
        if len(self._mem) >= self._capacity:
            self._evict()
        self._mem[key] = value
        self._stored.add(key)
        return value

    def _unpack(self, blob: bytes) -> V:
        if blob[:1] == _PICKLED or self._decode is None:
            return pickle.loads(blob)  # type: ignore[no-any-return]
        return self._decode(blob)

    def _evict(self) -> None:
        """Write the least recently used entries to disk, then drop them from memory."""
        db, mem = self._db or self._open(), self._mem
        count = min(len(mem), len(mem) - self._capacity + self._block)
        encode = self._encode
        rows = [(key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL) if encode is None
                 else encode(key, value)) for key, value in islice(mem.items(), count)]
        with scratch_space(self._directory):
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO spill (key, value) VALUES (?, ?)", rows)
            db.execute("COMMIT")
        for key, _ in rows:
            del mem[key]
            if key in self._stored:
                self._stored.remove(key)
            else:
                self._rows += 1

    def _open(self) -> sqlite3.Connection:
        with scratch_space(self._directory):
            fd, path = tempfile.mkstemp(prefix="spill-", suffix=".sqlite", dir=self._directory)
            os.close(fd)  # mkstemp made it 0600; SQLite takes an empty file as an empty database
            db = sqlite3.connect(path, isolation_level=None)
            self._close = weakref.finalize(self, _remove, db, path)
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "locking_mode = EXCLUSIVE"):
                db.execute(f"PRAGMA {pragma}")
            db.execute("CREATE TABLE spill (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
        self._db = db
        return db


@contextmanager
def scratch_space(directory: str | None = None) -> Iterator[None]:
    """Turn a failure to write a scratch file (in ``directory``, default the temporary
    directory) into one line a person can act on."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        where = directory or tempfile.gettempdir()
        raise ResourceError(f"cannot write scratch space in {where} ({exc}); set TMPDIR "
                            "to a writable directory with free space") from None


def _blocks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    block: list[Any] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block
