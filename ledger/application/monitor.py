"""A monitor: anyone, anywhere, watching a published log (``custody log tiles``) with only the
log's public key — over HTTP or from a copy of the folder — and no database.

Each run (``custody monitor URL_OR_DIR --log-key LOG.pub [--state DIR] [--entries]``):

1. fetches ``checkpoint`` and opens it with the log's key (its note key name is the
   checkpoint's origin): a checkpoint the key did not sign is ``CHECKPOINT_SIGNATURE_INVALID``;
2. reads the tree's own subtree roots through the tiles (``ledger.tlog.tiles.TileReader``):
   tiles that do not hash to the signed root are ``ROOT_MISMATCH``, naming the tile;
3. with ``--state``, proves from the tiles that the tree extends the checkpoint seen last
   time (RFC 9162 consistency): a fork — the same size with another root, or a proof that
   fails — is ``CHECKPOINT_INCONSISTENT``, and a smaller tree ``LOG_TRUNCATED``; both
   checkpoints are the evidence, written into the state directory as the witness writes
   them (``fork-<origin>-<old>-<new>.old.checkpoint``, ``.new.checkpoint``);
4. with ``--entries``, reads every new entry bundle and the stored events beside it: each
   entry must hash to its leaf in the (authenticated) level-0 tile and each event to its
   entry (``ROOT_MISMATCH`` naming the file and leaf otherwise), and the events are judged
   through the same fold as ``custody verify`` (``ledger.verify.tiled``), resumably.

The state directory keeps the last checkpoint that checked out and, with ``--entries``, the
audit reached; neither moves on after an error, so the next run checks the same ground.
Everything fetched is bounded: the checkpoint (64 KiB), tiles (8 KiB), entry bundles and the
events beside them (:data:`MAX_EVENTS_BUNDLE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ledger.application.tiles import CHECKPOINT, EVENT_PREFIX, EVENTS
from ledger.application.witness import WitnessState
from ledger.core.canonical import MAX_ENCODED
from ledger.core.collector import long_fold
from ledger.core.digests import event_hash_of_bytes
from ledger.core.errors import InputError, ResourceError, VerificationFailed
from ledger.core.findings import Finding, Severity
from ledger.core.text import Message
from ledger.network.client import Source
from ledger.tlog.checkpoint import Checkpoint, open_checkpoint
from ledger.tlog.merkle import HASH_SIZE, check_tree, leaf_hash, prove_tree, tree_hash
from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey, parse_note
from ledger.tlog.tiles import ENTRIES, WIDTH, Tile, TileReader, parse_bundle
from ledger.tlog.witness import MAX_CHECKPOINT_NOTE
from ledger.verify.tiled import TiledAudit

MAX_EVENTS_BUNDLE = 64 << 20  # 256 events of 256 KiB: far above any real step
MAX_ENTRIES_BUNDLE = WIDTH * (2 + HASH_SIZE)
LOG_SIDE = {"CHECKPOINT_SIGNATURE_INVALID", "ROOT_MISMATCH", "CHECKPOINT_INCONSISTENT",
            "LOG_TRUNCATED"}


@dataclass
class Watch:
    """What one run saw: the checkpoint, the one seen before, the findings, the events
    judged (from which leaf), and whether the state moved on."""

    source: str
    checkpoint: Checkpoint | None = None
    previous: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    audited_from: int | None = None
    saved: bool = False
    evidence: Path | None = None

    @property
    def intact(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


class Monitor:
    """Watches the log at ``source`` with ``log_key`` (raw Ed25519); ``state``: where it
    remembers the last checkpoint (and, with ``entries``, the audit), or None."""

    def __init__(self, source: Source, log_key: bytes, state: Path | None = None,
                 entries: bool = False, origin: str | None = None) -> None:
        self.source = source
        self.log_key = log_key
        self.state_dir = state
        self.state = WitnessState(state) if state is not None else None
        self.entries = entries
        # The log's name, when the key file gives it: a checkpoint under another name is not
        # this log's, even signed by its key (else a rename would dodge the fork check).
        self.origin = origin

    @long_fold()  # a first look folds the whole log
    def run(self) -> Watch:
        """One look at the log (see the module docstring)."""
        watch = Watch(self.source.label)
        note = self.source.get(CHECKPOINT, MAX_CHECKPOINT_NOTE)
        if note is None:
            raise InputError(f"{self.source.label} serves no checkpoint: is it a folder or URL "
                             "written by 'custody log tiles'?")
        try:
            origin = Checkpoint.parse(parse_note(note)[0]).origin
            if self.origin is not None and origin != self.origin:
                raise VerificationFailed(f"it is a checkpoint of {origin!r}; the key is "
                                         f"{self.origin!r}'s")
            verifier = Ed25519Verifier(VerifierKey(origin, SIG_ED25519, self.log_key))
            checkpoint = open_checkpoint(note, origin, verifier)[0]
            if self.state is not None:
                self._one_log(origin)
        except VerificationFailed as exc:
            watch.findings.append(Finding("CHECKPOINT_SIGNATURE_INVALID", Message(
                "the checkpoint at {source} does not open with the log key: {reason}",
                source=self.source.label, reason=str(exc)),
                evidence={"source": self.source.label, "note": note.decode("utf-8", "replace")}))
            return watch
        watch.checkpoint = checkpoint
        latest = self.state.latest(origin) if self.state is not None else None
        watch.previous = latest[0] if latest is not None else None
        reader = TileReader(checkpoint.size, checkpoint.root, self._tiles)
        watch.findings += self._tree(checkpoint, reader)
        if latest is not None and not watch.findings:
            watch.findings += self._extends(latest, checkpoint, note, reader, watch)
        log_side = any(f.code in LOG_SIDE for f in watch.findings)
        if self.entries and not log_side:
            try:
                self._audit(checkpoint, note, reader, watch)
            except VerificationFailed as exc:  # a tile the reader could not authenticate
                watch.findings.append(self._bad_tiles(checkpoint, str(exc)))
        if self.state is not None and not any(f.code in LOG_SIDE for f in watch.findings):
            self.state.remember(checkpoint, note)
            watch.saved = True
        return watch

    def _one_log(self, origin: str) -> None:
        """A state directory follows one log: a checkpoint of another name kept there is
        refused (a log signing under a new name must not start afresh)."""
        assert self.state is not None
        kept = [p for p in self.state.directory.glob("*.checkpoint")
                if not p.name.startswith("fork-") and p != self.state.path(origin)]
        if kept:
            raise VerificationFailed(f"{self.state.directory} follows another log "
                                     f"({kept[0].name}); a log keeps its name")

    # -- the tree --------------------------------------------------------------------------

    def _tiles(self, tiles: list[Tile]) -> list[bytes]:
        return [self._file(tile, tile.path(), tile.width * HASH_SIZE) for tile in tiles]

    def _file(self, tile: Tile, path: str, limit: int, base: str | None = None) -> bytes:
        """A tile or bundle; a partial one the log no longer serves is read from the full
        one (tlog-tiles lets a log delete a partial tile once the full one exists)."""
        data = self.source.get(path, limit)
        if data is None and not tile.full:
            full = Tile(tile.level, tile.n)
            whole = self.source.get(full.path(base), _limit_of(full, base))
            if whole is not None:
                data = _prefix(whole, tile, base)
        if data is None:
            raise ResourceError(f"{self.source.label}/{path} is missing: the log does not "
                                "serve a file its checkpoint needs; try again later")
        return data

    def _tree(self, checkpoint: Checkpoint, reader: TileReader) -> list[Finding]:
        """The tiles holding the tree's subtree roots must give the signed root."""
        if checkpoint.size == 0:
            return []
        try:
            tree_hash(checkpoint.size, reader)
        except VerificationFailed as exc:
            return [self._bad_tiles(checkpoint, str(exc))]
        return []

    def _bad_tiles(self, checkpoint: Checkpoint, reason: str) -> Finding:
        return Finding("ROOT_MISMATCH", Message(
            "the tiles at {source} do not support its checkpoint of {size} events: {reason}",
            source=self.source.label, size=checkpoint.size, reason=reason),
            evidence={"source": self.source.label, "checkpoint_size": checkpoint.size,
                      "checkpoint_root": checkpoint.root.hex(), "reason": reason})

    def _extends(self, latest: tuple[Checkpoint, bytes], checkpoint: Checkpoint, note: bytes,
                 reader: TileReader, watch: Watch) -> list[Finding]:
        """The tree must extend the one seen last time (RFC 9162 consistency, from tiles)."""
        previous, previous_note = latest
        evidence = {"older": previous_note.decode("utf-8", "replace"),
                    "newer": note.decode("utf-8", "replace")}
        if checkpoint.size < previous.size:
            self._keep(latest, checkpoint, note, watch)
            return [Finding("LOG_TRUNCATED", Message(
                "{source} now serves a checkpoint of {size} events; one of {seen} was seen "
                "before: the log was cut or rolled back", source=self.source.label,
                size=checkpoint.size, seen=previous.size), evidence=evidence)]
        why = None
        if checkpoint.size == previous.size:
            if checkpoint.root != previous.root:
                why = Message("the same size, another root")
        else:
            try:
                proof = prove_tree(checkpoint.size, previous.size, reader)
            except VerificationFailed as exc:
                return [self._bad_tiles(checkpoint, str(exc))]
            try:
                check_tree(proof, checkpoint.size, checkpoint.root, previous.size,
                           previous.root)
            except VerificationFailed as exc:
                why = str(exc)
        if why is None:
            return []
        self._keep(latest, checkpoint, note, watch)
        return [Finding("CHECKPOINT_INCONSISTENT", Message(
            "the checkpoint of {size} events at {source} does not extend the one of {seen} "
            "seen before ({why}): the log forked", size=checkpoint.size,
            source=self.source.label, seen=previous.size, why=why), evidence=evidence)]

    def _keep(self, latest: tuple[Checkpoint, bytes], checkpoint: Checkpoint, note: bytes,
              watch: Watch) -> None:
        assert self.state is not None
        watch.evidence = self.state.keep_evidence(latest[0], latest[1], checkpoint, note)

    # -- the entries -----------------------------------------------------------------------

    def _audit(self, checkpoint: Checkpoint, note: bytes, reader: TileReader,
               watch: Watch) -> None:
        audit = (TiledAudit.resume(self.state_dir, checkpoint.origin)
                 if self.state_dir is not None else None) or TiledAudit()
        start = audit.size
        watch.audited_from = start
        if start > checkpoint.size:
            watch.findings.append(Finding("LOG_TRUNCATED", Message(
                "the audit saved in {state} reached {audited} events; {source} now serves "
                "{size}", state=self.state_dir, audited=start, source=self.source.label,
                size=checkpoint.size), evidence={"audited": start, "size": checkpoint.size}))
            return
        if 0 < start and tree_hash(start, reader) != audit.frontier.root():
            watch.findings.append(Finding("CHECKPOINT_INCONSISTENT", Message(
                "the first {audited} events at {source} are not the ones audited before: the "
                "log forked", audited=start, source=self.source.label),
                evidence={"audited_root": audit.frontier.root().hex(),
                          "root": tree_hash(start, reader).hex()}))
            return
        for n in range(start // WIDTH, -(-checkpoint.size // WIDTH)):
            width = min(WIDTH, checkpoint.size - n * WIDTH)
            tile = Tile(ENTRIES, n, width)
            skip = max(0, start - n * WIDTH)
            if skip == width:
                continue  # the partial bundle the last run read in full: nothing new in it
            bad = self._bundle(tile, skip, reader, audit, watch)
            if bad is not None:
                watch.findings.append(bad)
                return
        watch.findings += audit.finish(checkpoint, self.log_key, self.source.label)
        if self.state_dir is not None and watch.intact:
            audit.save(self.state_dir, checkpoint, note)

    def _bundle(self, tile: Tile, skip: int, reader: TileReader, audit: TiledAudit,
                watch: Watch) -> Finding | None:
        """Check one entry bundle and its events against the level-0 tile, then judge the
        events after the first ``skip``; a finding when a file does not match."""
        first = tile.n * WIDTH + skip
        try:
            entries = parse_bundle(self._file(tile, tile.path(), MAX_ENTRIES_BUNDLE),
                                   tile.width, max_entry=HASH_SIZE)
        except InputError as exc:
            return self._entry_differs(tile.path(), first, Message(
                "the bundle is malformed: {reason}", reason=str(exc)))
        try:
            events = parse_bundle(self._file(tile, tile.path(EVENTS), MAX_EVENTS_BUNDLE,
                                             EVENTS), tile.width, EVENT_PREFIX, MAX_ENCODED)
        except InputError as exc:
            return self._entry_differs(tile.path(EVENTS), first, Message(
                "the bundle is malformed: {reason}", reason=str(exc)))
        leaves = reader(Tile(0, tile.n, tile.width).indexes()[skip:])
        for offset, (entry, event, leaf) in enumerate(zip(entries[skip:], events[skip:],
                                                          leaves)):
            index = first + offset
            if len(entry) != HASH_SIZE or leaf_hash(entry) != leaf:
                return self._entry_differs(tile.path(), index, Message(
                    "its entry does not hash to its leaf in the level-0 tile"))
            if event_hash_of_bytes(event) != entry:
                return self._entry_differs(tile.path(EVENTS), index, Message(
                    "the stored event does not hash to its entry"))
        watch.findings += audit.add(events[skip:])
        watch.events += tile.width - skip
        return None

    def _entry_differs(self, path: str, index: int, why: Message) -> Finding:
        return Finding("ROOT_MISMATCH", Message(
            "{source}/{path}: leaf {index}: {why} (a published file was rewritten)",
            source=self.source.label, path=path, index=index, why=why),
            position=index + 1,
            evidence={"source": f"{self.source.label}/{path}", "leaf": index})


def _limit_of(tile: Tile, base: str | None) -> int:
    if base == EVENTS:
        return MAX_EVENTS_BUNDLE
    if tile.level == ENTRIES:
        return MAX_ENTRIES_BUNDLE
    return tile.width * HASH_SIZE


def _prefix(whole: bytes, tile: Tile, base: str | None) -> bytes:
    """The first ``tile.width`` hashes or entries of the full tile or bundle ``whole``."""
    if tile.level != ENTRIES:
        return whole[:tile.width * HASH_SIZE]
    prefix = EVENT_PREFIX if base == EVENTS else 2
    offset = 0
    for _ in range(tile.width):
        if offset + prefix > len(whole):
            break
        offset += prefix + int.from_bytes(whole[offset:offset + prefix], "big")
    return whole[:offset]
