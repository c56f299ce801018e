"""Publishing the log as C2SP tlog-tiles: a static directory any web server can serve, and
anyone can monitor (``ledger.application.monitor``) with this tool or any other.

``custody log tiles DIR`` writes, for the newest checkpoint stored and signed by the log's
key (with the witnesses' cosignatures stored with it)::

    DIR/checkpoint                       that checkpoint's signed note
    DIR/tile/<L>/<N>[.p/<W>]             hash tiles: the stored tree's hashes at level 8·L
    DIR/tile/entries/<N>[.p/<W>]         entry bundles: each entry is what its leaf hashes,
                                         the 32-byte event hash, uint16-length-prefixed
    DIR/custody/events/<N>[.p/<W>]       the stored events themselves, the same N and W:
                                         each the event's stored bytes (canonical msgpack)
                                         prefixed by its length as a big-endian uint32; its
                                         event hash — SHA-256 of "custody-ledger/v1/event",
                                         a zero byte and those bytes — is the entry at the
                                         same place

(``ledger.tlog.tiles`` has the paths and formats.) The export is incremental: the
checkpoint already in DIR says what was published; only the tiles the new tree adds — the
full tiles completed since and the new partial ones — are written, each file atomically
(``ledger.storage.files``), the folders fsynced, and the checkpoint last, so a reader never
sees a checkpoint whose tiles are missing. Full tiles never change; once a tile is full, its
partial versions are removed (the spec allows it; a client may fall back to the full tile).

An export never publishes a log that forks the one it published: when DIR's checkpoint is
not a checkpoint of this ledger's tree (another size's root, or a larger tree), it refuses.
Every event is checked against its leaf as it is written: a stored event that does not hash
to the stored tree's leaf stops the export (``custody verify`` says why).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ledger.application.custody import CustodyLedger
from ledger.application.log import NO_TREE, TransparencyLog
from ledger.core.digests import event_hash_of_bytes
from ledger.core.errors import InputError, StorageError, VerificationFailed
from ledger.verify.log_keys import open_log_checkpoint
from ledger.core.state import LedgerState
from ledger.storage.files import sync_directories, write_file
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.merkle import leaf_hash
from ledger.tlog.note import parse_note
from ledger.tlog.tiles import (
    ENTRIES,
    Tile,
    format_bundle,
    format_tile,
    levels_of,
    new_tiles,
)
from ledger.tlog.witness import MAX_CHECKPOINT_NOTE

CHECKPOINT = "checkpoint"
EVENTS = "custody/events"  # the stored events, laid out as entry bundles are
EVENT_PREFIX = 4  # bytes of each stored event's length in an events bundle
MODE = 0o644  # published, not secret
CANDIDATES = 16  # stored checkpoints read, largest first, before all are


@dataclass(frozen=True)
class Export:
    """What an export did: the sizes published before and now, the files written and their
    bytes, and how many events no checkpoint covers yet."""

    old_size: int
    size: int
    files: int
    bytes: int
    uncovered: int
    checkpoint: bytes


def export_tiles(app: CustodyLedger, directory: Path) -> Export:
    """Publish the ledger's log in ``directory`` as tiles, up to its newest signed checkpoint
    (see the module docstring). Refused (InputError) with no log key, no tree or no
    checkpoint; VerificationFailed when DIR holds a checkpoint this ledger's tree forks."""
    tlog = TransparencyLog(app)
    state = tlog.log_state()
    if not state.log_keys:
        raise InputError("this ledger names no log key, so it has no checkpoint to publish; "
                         "name one with 'custody log enable --log-key LOG.pub', then run "
                         "'custody checkpoint --key LOG.key'")
    if not tlog.has_tree():
        raise InputError(NO_TREE.format(label=app.backend.label))
    head = tlog.size()
    newest = newest_checkpoint(tlog, state)
    if newest is None:
        raise InputError("no stored checkpoint is signed by the log's key; sign one with "
                         "'custody checkpoint --key LOG.key', then publish again")
    checkpoint, note = newest
    directory = _folder(directory)
    old = _published(directory, tlog, checkpoint)
    if old == checkpoint.size and _same(directory / CHECKPOINT, note):
        return Export(old, old, 0, 0, head - checkpoint.size, note)
    written = [0, 0]
    folders: set[Path] = set()

    def put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_file(path, data, mode=MODE, synced_later=folders)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}; check that "
                             f"{directory} is writable and has free space") from None
        written[0] += 1
        written[1] += len(data)

    completed: list[Tile] = []
    for level in levels_of(checkpoint.size):
        for tile in new_tiles(old, checkpoint.size, level):
            hashes = tlog.read(tile.indexes())
            put(directory / tile.path(), format_tile(hashes))
            bundles = [Tile(ENTRIES, tile.n, tile.width)] if level == 0 else []
            for bundle in bundles:  # the entries of a level-0 tile's leaves, and the events
                entries, events = _entries(tlog, bundle, hashes)
                put(directory / bundle.path(), format_bundle(entries))
                put(directory / bundle.path(EVENTS), format_bundle(events, EVENT_PREFIX))
            if tile.full:
                completed += [tile, *bundles]
    _sync(folders, directory)
    # Last, the checkpoint: it points to tiles that are all in place.
    put(directory / CHECKPOINT, note)
    _sync(folders, directory)
    for tile in completed:
        for base in (tile.base, *((EVENTS,) if tile.level == ENTRIES else ())):
            partials = directory / (tile.path(base) + ".p")
            if partials.is_dir():
                shutil.rmtree(partials, ignore_errors=True)
    return Export(old, checkpoint.size, written[0], written[1], head - checkpoint.size, note)


def newest_checkpoint(tlog: TransparencyLog, state: LedgerState
                      ) -> tuple[Checkpoint, bytes] | None:
    """The stored checkpoint of the largest size (the one with most signatures among equals)
    that the ledger's log key signed and the stored tree holds; None if there is none.

    Read from the largest: a ledger that signs a checkpoint after every append stores one
    per event, and only the first few are needed (all of them only if those do not open)."""
    largest = tlog.recorder.largest_checkpoints(CANDIDATES)
    found = _first_valid(tlog, state, largest)
    if found is None and len(largest) == CANDIDATES:
        found = _first_valid(tlog, state, tlog.stored_checkpoints())
    return found


def _first_valid(tlog: TransparencyLog, state: LedgerState,
                 rows: list[tuple[int, int, bytes]]) -> tuple[Checkpoint, bytes] | None:
    ordered = sorted(rows, key=lambda r: (r[1], r[2].count("\n— ".encode())), reverse=True)
    for _, size, note in ordered:
        try:
            checkpoint = open_log_checkpoint(note, state)
        except (VerificationFailed, InputError):
            continue
        if checkpoint.size == size and checkpoint.root == tlog.root(size):
            return checkpoint, note
    return None


def _folder(directory: Path) -> Path:
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} is not a directory; name a folder to publish the "
                         "tiles in")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {directory}: {exc.strerror}") from None
    return directory


def _published(directory: Path, tlog: TransparencyLog, checkpoint: Checkpoint) -> int:
    """The tree size DIR's checkpoint published (0: none); refuse one the tree forks."""
    path = directory / CHECKPOINT
    try:
        with open(path, "rb") as handle:
            note = handle.read(MAX_CHECKPOINT_NOTE + 1)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        published = Checkpoint.parse(parse_note(note)[0])
    except InputError as exc:
        raise InputError(f"{path} is not a checkpoint ({exc}); publish into an empty folder "
                         "or the one published before") from None
    if published.origin != checkpoint.origin:
        raise InputError(f"{directory} publishes log {published.origin!r}, not "
                         f"{checkpoint.origin!r}; publish each log in a folder of its own")
    if published.size > checkpoint.size or published.root != tlog.root(published.size):
        raise VerificationFailed(
            f"{path} published a tree of {published.size} events with root "
            f"{published.root.hex()[:16]}…, which this ledger's tree does not extend: "
            "publishing would fork the log its readers hold; run 'custody verify'")
    return published.size


def _same(path: Path, note: bytes) -> bool:
    try:
        return path.read_bytes() == note
    except OSError:
        return False


def _entries(tlog: TransparencyLog, tile: Tile, level0: list[bytes]
             ) -> tuple[list[bytes], list[bytes]]:
    """The entries (event hashes) and stored events of an entry bundle's leaves, each event
    checked against its leaf hash in the stored tree (``level0``, the level-0 tile's)."""
    leaves = tile.leaves()
    position = tlog.recorder.leaf_position(leaves.start)
    rows = [] if position is None else tlog.recorder.select_notifications(
        start=position, limit=tile.width)
    if len(rows) != tile.width:
        raise StorageError(f"the log holds {len(rows)} events from leaf {leaves.start}, not "
                           f"{tile.width}; run 'custody verify'")
    entries, events = [], []
    for leaf, row, stored_leaf in zip(leaves, rows, level0):
        stored = bytes(row.state)
        entry = event_hash_of_bytes(stored)
        if leaf_hash(entry) != stored_leaf:
            raise StorageError(f"the event at position {row.id} does not hash to leaf {leaf} "
                               "of the stored tree; nothing more is published: run "
                               "'custody verify'")
        entries.append(entry)
        events.append(stored)
    return entries, events


def _sync(folders: set[Path], directory: Path) -> None:
    # The new folders' own entries are in their parents: fsync every folder on the way up.
    for folder in list(folders):
        while folder != directory and directory in folder.parents:
            folder = folder.parent
            folders.add(folder)
    try:
        sync_directories(folders)
    except OSError as exc:
        raise InputError(f"cannot sync {directory}: {exc.strerror or exc}") from None
    folders.clear()
