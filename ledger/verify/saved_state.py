"""The saved state of a resumable audit (``custody verify --state DIR``): one file, ``DIR/state``.

Layout (every record framed by its length, 4 bytes big-endian, at most 1 MiB)::

    custody-verify-state 1\\n                       magic line, with the format version
    record: header                                  canonical msgpack map, see below
    record: state ...                               ``ledger.core.state_codec`` records
    record: {"end": count of state records}
    sha256 <64 hex digits>\\n                        the integrity line

The header holds the ledger id, the tree size and root the audit reached, the log position
reached, the tree's frontier (``CompactRange.to_bytes``), and the newest signed checkpoint
note stored at or below that size (its text, or nil). The integrity line is SHA-256 over
``custody-verify-state\\0`` ‖ ledger id ‖ ``\\0`` ‖ every byte before the line: a state is
bound to its ledger, and any changed byte is caught.

That digest tells accidental damage, and tampering by anyone who cannot write the file
afterwards: anyone who can rewrite the file can recompute it (it is not a MAC). The
directory is created 0700 and the file written 0600, atomically (a temporary file, fsync,
rename); keeping DIR where only the auditor can write is what makes the saved state trusted.

Reading refuses, as :class:`StateDamaged` (one line, exit 2), anything that is not such a
file for this ledger; it never falls back to a full run quietly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from ledger.core import canonical
from ledger.core.errors import InputError, ResourceError
from ledger.tlog.merkle import CompactRange
from ledger.core.state import LedgerState
from ledger.core.state_codec import StateDamaged, StateReader, state_records
from ledger.storage.files import writing

FILE = "state"
MAGIC = b"custody-verify-state 1\n"
DOMAIN = b"custody-verify-state\x00"
TRAILER = len(b"sha256 ") + 64 + 1
MAX_RECORD = canonical.MAX_ENCODED
_HEADER_KEYS = {"format", "ledger", "tree_size", "root", "position", "frontier", "checkpoint"}
_REMEDY = "delete {dir} (the next run re-verifies everything) or run without --state"


@dataclass(frozen=True)
class Header:
    """Where the saved audit stopped."""

    ledger_id: str
    tree_size: int
    root: bytes
    position: int
    frontier: CompactRange
    checkpoint: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"format": 1, "ledger": self.ledger_id, "tree_size": self.tree_size,
                "root": self.root, "position": self.position,
                "frontier": self.frontier.to_bytes(), "checkpoint": self.checkpoint}

    @classmethod
    def from_data(cls, data: Any) -> "Header":
        if type(data) is not dict or set(data) != _HEADER_KEYS:
            raise StateDamaged("its header is malformed")
        if data["format"] != 1:
            raise StateDamaged(f"its format {data['format']!r} is not 1")
        ledger_id, size, root, position = (data["ledger"], data["tree_size"], data["root"],
                                           data["position"])
        if (type(ledger_id) is not str or type(size) is not int or type(position) is not int
                or type(root) is not bytes or type(data["frontier"]) is not bytes
                or data["checkpoint"] is not None and type(data["checkpoint"]) is not str):
            raise StateDamaged("its header has a field of the wrong type")
        try:
            frontier = CompactRange.from_bytes(data["frontier"])
        except InputError as exc:
            raise StateDamaged(f"its frontier is malformed: {exc}") from None
        if frontier.size != size or frontier.root() != root:
            raise StateDamaged("its frontier does not give its tree size and root")
        return cls(ledger_id, size, root, position, frontier, data["checkpoint"])


def _digest(ledger_id: str) -> Any:
    return hashlib.sha256(DOMAIN + ledger_id.encode("utf-8") + b"\x00")


def _frame(record: bytes) -> bytes:
    return len(record).to_bytes(4, "big") + record


# -- writing ----------------------------------------------------------------------------------


def save(directory: Path, header: Header, state: LedgerState) -> Path:
    """Write ``state`` with ``header`` atomically to ``directory/state`` (0600, in a 0700
    directory made if missing); return the file's path. A failure leaves the old file."""
    _ensure_dir(directory)
    digest = _digest(header.ledger_id)
    target = directory / FILE
    try:
        with writing(target, mode=0o600) as out:
            def put(data: bytes) -> None:
                digest.update(data)
                out.write(data)

            put(MAGIC)
            put(_frame(canonical.encode(header.to_data())))
            count = 0
            for record in state_records(state):
                put(_frame(record))
                count += 1
            put(_frame(canonical.encode({"end": count})))
            out.write(b"sha256 " + digest.hexdigest().encode("ascii") + b"\n")
        return target
    except OSError as exc:
        raise ResourceError(f"cannot save the audit state in {directory}: {exc.strerror or exc}"
                            "; check the directory is writable and has free space") from None


def _ensure_dir(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--state {directory} is not a directory")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--state {directory}: cannot create it ({exc.strerror})") from None


# -- reading ----------------------------------------------------------------------------------


def exists(directory: Path) -> bool:
    """Whether ``directory`` holds a saved state (a directory without one is a first run)."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--state {directory} is not a directory")
    return (directory / FILE).exists()


class SavedState:
    """An opened ``DIR/state``: its header read and its integrity line checked, for
    ``ledger_id``. :meth:`load` folds the state into the maps given, checking again."""

    def __init__(self, directory: Path, ledger_id: str) -> None:
        self.directory = directory
        self.path = directory / FILE
        self.ledger_id = ledger_id
        try:
            self.size = self.path.stat().st_size
            with open(self.path, "rb") as handle:
                self.header = self._header(handle)
                self._header_end = handle.tell()
                if self.header.ledger_id != ledger_id:
                    raise self._refused(f"it is the saved state of ledger "
                                        f"{self.header.ledger_id!r}, not of this ledger "
                                        f"{ledger_id!r}")
                handle.seek(0)
                self._head = handle.read(self._header_end)
                handle.seek(0)
                self._check_digest(handle)
        except OSError as exc:
            raise InputError(f"cannot read the saved audit state {self.path}: "
                             f"{exc.strerror}") from None

    def _refused(self, why: str) -> StateDamaged:
        return StateDamaged(f"the saved audit state {self.path} is refused: {why}; "
                            + _REMEDY.format(dir=self.directory))

    def _header(self, handle: IO[bytes]) -> Header:
        if handle.read(len(MAGIC)) != MAGIC:
            raise self._refused("it is not a custody-verify-state 1 file")
        try:
            return Header.from_data(canonical.decode(self._record(handle)))
        except InputError as exc:
            raise self._refused(str(exc)) from None

    def _record(self, handle: IO[bytes]) -> bytes:
        length = handle.read(4)
        if len(length) != 4:
            raise StateDamaged("it ends inside a record")
        size = int.from_bytes(length, "big")
        if size > MAX_RECORD:
            raise StateDamaged(f"a record claims {size} bytes, over the {MAX_RECORD} limit")
        data = handle.read(size)
        if len(data) != size:
            raise StateDamaged("it ends inside a record")
        return data

    def _check_digest(self, handle: IO[bytes]) -> None:
        body = self.size - TRAILER
        if body < len(MAGIC):
            raise self._refused("it is too short to hold its integrity line")
        digest, left = _digest(self.ledger_id), body
        while left:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                raise self._refused("it changed while it was read")
            digest.update(chunk)
            left -= len(chunk)
        if handle.read() != b"sha256 " + digest.hexdigest().encode("ascii") + b"\n":
            raise self._refused("its SHA-256 integrity line does not match its contents "
                                "(damaged, or changed by hand)")

    def load(self, **maps: Any) -> LedgerState:
        """Fold the saved state into a new :class:`LedgerState` using ``maps`` (lots, heads,
        entered); the file is hashed again as it is read, so it cannot change in between."""
        digest = _digest(self.ledger_id)
        try:
            with open(self.path, "rb") as handle:
                reader = StateReader(**maps)
                head = handle.read(self._header_end)
                if head != self._head:
                    raise StateDamaged("it changed while it was read")
                digest.update(head)  # the magic line and the header, read already
                count = 0
                while True:
                    record = self._record(handle)
                    digest.update(_frame(record))
                    value = _end(record)
                    if value is not None:
                        if value != count:
                            raise StateDamaged(f"it ends after {count} records, not {value}")
                        break
                    reader.add(record)
                    count += 1
                line = handle.read()
            state = reader.finish()
        except OSError as exc:
            raise InputError(f"cannot read the saved audit state {self.path}: "
                             f"{exc.strerror}") from None
        except StateDamaged as exc:
            raise self._refused(str(exc)) from None
        if line != b"sha256 " + digest.hexdigest().encode("ascii") + b"\n":
            raise self._refused("it changed while it was read, or holds bytes after its end")
        if state.ledger_id != self.ledger_id or state.position > self.header.position:
            raise self._refused("its state does not match its header")
        return state


def _end(record: bytes) -> int | None:
    """The count an end record gives, or None for any other record."""
    if not record.startswith(b"\x81\xa3end"):  # a one-key map {"end": ...}: cheap to spot
        return None
    value = canonical.decode(record)
    if type(value) is not dict or set(value) != {"end"} or type(value["end"]) is not int:
        raise StateDamaged("its end record is malformed")
    return value["end"]


def records_of(path: Path) -> Iterator[bytes]:
    """Every framed record of a state file, header first (for tests and tools)."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise StateDamaged(f"{path} is not a custody-verify-state 1 file")
        end = path.stat().st_size - TRAILER
        while handle.tell() < end:
            size = int.from_bytes(handle.read(4), "big")
            yield handle.read(size)
