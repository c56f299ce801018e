"""The completeness half of verification: the Merkle tree recomputed from the events, held
against every checkpoint and receipt — the ledger's own and those an auditor brings.

:class:`LogAudit` is fed every stored row's event hash in log order (the verifier's main
loop, a page of rows at a time), keeps only the tree's right edge (``CompactRange``: at most
64 hashes), and notes the root at each size a checkpoint names and the event hash at each
index a receipt names. At the end, with the fold's final state (which log keys the
authority named), it reports:

- ``CHECKPOINT_SIGNATURE_INVALID``: a checkpoint (or receipt) that does not open with a log
  key the ledger named, for the ledger's origin;
- ``LOG_TRUNCATED``: a signed checkpoint commits to more events than the log holds;
- ``ROOT_MISMATCH``: the tree of the events at a signed checkpoint's size is not its root;
- ``CHECKPOINT_INCONSISTENT``: two signed checkpoints that no append-only log can both
  describe (one size, two roots; or an older one the log no longer matches while a newer
  one does — history was rewritten in between): both notes are the evidence;
- ``EVENT_MISSING``: a verified receipt whose event is not at its index any more;
- ``RECORDED_AT_OUTSIDE_WITNESS_WINDOW``: an event whose recorded_at is earlier than the
  time a witness (an enrolled inspector, or one the genesis named) cosigned a checkpoint
  that does not hold it, or later than the time one cosigned a checkpoint that does. While
  streaming, each row is held against every cosignature the checkpoints carry (few: windows
  sorted by size); only the rows outside some window are kept, and judged at the end with
  the cosignatures that verify with the final roster's inspector keys or the keys of the
  witnesses the genesis named. A witness's cosignature that does not verify is
  ``CHECKPOINT_SIGNATURE_INVALID``.

Beside the checkpoints, the tree the database stores (``ledger.storage.tree``: what proofs,
receipts and new checkpoints are read from) is held against the recomputed one, hash by hash:
:class:`StoredTreeAudit` is handed the stored hashes and leaves as two iterators in index
order (the verifier reads them in pages: O(n), sequential) and compares each with the hashes
the recomputed tree creates for the same leaf: a page of them at once, and leaf by leaf only
in a page where they differ. The first difference — a changed hash, a missing row, an extra
row, a leaf mapped to another log position — is one ``ROOT_MISMATCH``
naming "the stored tree", the stored hash index and both values. A tree with no rows at all
on a non-empty log is ``TREE_NOT_BUILT`` (a warning: a ledger from before the log, rebuilt
from the events by its next write).

Pure: no I/O; the verifier hands in the notes, the rows and the stored tree's iterators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, islice
from typing import Any, Iterator, Sequence

from ledger.core.canonical import parse_timestamp
from ledger.tlog.checkpoint import Checkpoint, TlogProof
from ledger.core.errors import InputError, VerificationFailed
from ledger.core.findings import Finding
from ledger.tlog.merkle import (
    EMPTY_ROOT, CompactRange, check_record, leaf_hash, split_stored_hash_index,
    stored_hash_index,
)
from ledger.tlog.note import parse_note
from ledger.verify.log_keys import open_log_checkpoint
from ledger.core.roster import WITNESS_ROLE
from ledger.core.state import LedgerState
from ledger.core.text import Message
from ledger.tlog.witness import WitnessWindows, witness_verifier


@dataclass(frozen=True)
class Evidence:
    """A checkpoint or receipt to check, with where it came from (a table row, a file)."""

    label: str
    data: bytes
    receipt: bool = False


def _claimed_size(note: bytes) -> int | None:
    try:
        return Checkpoint.parse(parse_note(note)[0]).size
    except (InputError, VerificationFailed):
        return None


def checkpoint_size(note: bytes) -> int | None:
    """The tree size a checkpoint note claims (its signature unchecked), or None."""
    return _claimed_size(note)


def _timestamped(note: bytes, size: int, label: str
                 ) -> list[tuple[int, int, str, int, bytes, str]]:
    """Every signature line of ``note`` shaped as a timestamped cosignature (unverified)."""
    try:
        sigs = parse_note(note)[1]
        return [(size, int.from_bytes(raw[:8], "big"), sig.name, sig.key_id, note, label)
                for sig in sigs if len(raw := sig.signature) == 8 + 64]
    except (InputError, VerificationFailed):
        return []


def _seconds(recorded_at: str) -> int | None:
    """Whole POSIX seconds of a canonical timestamp (cosignature times are whole seconds)."""
    try:
        return int(parse_timestamp(recorded_at).timestamp() // 1)
    except (InputError, ValueError, OverflowError):
        return None


def receipted_event(label: str, receipt: bytes, proof: TlogProof, found: bytes | None,
                    absent: Message) -> list[Finding]:
    """``EVENT_MISSING`` unless ``found`` — the event hash the log holds at the receipt's
    index, or None (``absent`` says why there is none) — is the event the receipt proves."""
    if found == proof.extra:
        return []
    where = absent if found is None else Message("event {found}… is there instead",
                                                  found=found.hex()[:16])
    assert proof.extra is not None
    return [Finding("EVENT_MISSING", Message(
        "receipt {label} proves event {event}… at index {index}, but {where}",
        label=label, event=proof.extra.hex()[:16], index=proof.index, where=where),
                    evidence={"source": label, "index": proof.index,
                              "event_hash": proof.extra.hex(),
                              "receipt": receipt.decode("utf-8", "replace")})]


STORED_TREE = "the stored tree"


def _shown(stored: object) -> str:
    """A value read from the stored tree as evidence: hex for bytes; for a value of the wrong
    type (SQLite keeps whatever was written) its repr, which names the type."""
    if isinstance(stored, bytes):
        return stored.hex()
    return str(stored) if isinstance(stored, int) else repr(stored)


def _stored_position(stored: object) -> int | str:
    return stored if isinstance(stored, int) else _shown(stored)


class StoredTreeAudit:
    """The stored tree's rows held against the recomputed tree, leaf by leaf; keeps only the
    first difference (after one, the stored rows no longer line up with anything)."""

    def __init__(self, hashes: Iterator[tuple[int, bytes]],
                 leaves: Iterator[tuple[int, int]], since: int | None = None) -> None:
        self.since = since  # a first difference at an earlier position is not reported
        self.hashes = hashes
        self.leaves = leaves
        self.finding: Finding | None = None
        self.unbuilt = False  # both tables empty: nothing stored to compare
        self.settled: list[Finding] | None = None  # ``settle``'s findings, once it ran

    @classmethod
    def of(cls, recorder: Any, since: int | None = None) -> "StoredTreeAudit":
        """The audit of ``recorder``'s stored tree: its hashes and leaves read lazily, a page
        of rows at a time, as the recomputed tree grows."""
        return cls(recorder.stored_hashes(), recorder.stored_leaves(), since)

    def add_page(self, first: int, positions: Sequence[int | None],
                 created: Sequence[bytes]) -> None:
        """Leaves ``first``, ``first + 1``, … (at log ``positions``) were appended, creating
        ``created`` hashes (``CompactRange.extend``: the stored hashes from leaf ``first``'s
        on). The stored rows are read for the whole page and compared at once; only a page
        where they differ is walked leaf by leaf (``add``), for the first difference."""
        if self.finding is not None or self.unbuilt:
            return
        start = stored_hash_index(0, first)
        hashes = list(islice(self.hashes, len(created)))
        leaves = list(islice(self.leaves, len(positions)))
        if (hashes == list(zip(range(start, start + len(created)), created))
                and leaves == list(zip(range(first, first + len(positions)), positions))):
            return  # the usual case: the stored page is the recomputed one
        self.hashes, self.leaves = chain(hashes, self.hashes), chain(leaves, self.leaves)
        at = 0
        for leaf, position in enumerate(positions, first):
            # Leaf n's own hash, then one for each trailing 1 bit of n (the subtrees it completes).
            count = (~leaf & (leaf + 1)).bit_length()
            self.add(leaf, position, created[at:at + count])
            at += count

    def add(self, leaf: int, position: int | None, created: Sequence[bytes]) -> None:
        """Leaf ``leaf`` (at log ``position``) was appended, creating ``created`` hashes."""
        if self.finding is not None or self.unbuilt:
            return
        start = stored_hash_index(0, leaf)
        for offset, recomputed in enumerate(created):
            self._hash(start + offset, recomputed, leaf, position)
            if self.finding is not None:
                return
        self._leaf(leaf, position)

    def _hash(self, index: int, recomputed: bytes, leaf: int, position: int | None) -> None:
        row = next(self.hashes, None)
        if row is not None and row[0] == index and row[1] == recomputed:
            return  # the usual case, ~2 a row: no evidence to build
        if row is None and index == 0:
            leaf_row = next(self.leaves, None)
            if leaf_row is None:
                self.unbuilt = True
                return
            self.leaves = chain([leaf_row], self.leaves)
        level, n = split_stored_hash_index(index)
        evidence = {"source": STORED_TREE, "index": index, "level": level, "n": n,
                    "leaf": leaf, "recomputed": recomputed.hex()}
        if row is None or row[0] > index:
            self._differs(f"the stored tree lacks hash {index} (level {level}, node {n}), "
                          f"which leaf {leaf} completes", position,
                          {**evidence, "stored": None})
        elif row[0] < index:
            self._extra_hash(row, position)
        elif row[1] != recomputed:
            self._differs(Message("the stored tree's hash {index} (level {level}, node {n}) is "
                                  "{stored}…, not the {recomputed}… the events give at leaf "
                                  "{leaf}", index=index, level=level, n=n,
                                  stored=_shown(row[1])[:16], recomputed=recomputed.hex()[:16],
                                  leaf=leaf), position, {**evidence, "stored": _shown(row[1])})

    def _leaf(self, leaf: int, position: int | None) -> None:
        row = next(self.leaves, None)
        if row is not None and row[0] == leaf and (position is None or row[1] == position):
            return  # the usual case: no evidence to build
        evidence = {"source": STORED_TREE, "leaf": leaf, "position": position}
        if row is None or row[0] > leaf:
            self._differs(Message("the stored tree lacks leaf {leaf} (the event at position "
                                  "{position})", leaf=leaf, position=position),
                          position, {**evidence, "stored_position": None})
        elif row[0] < leaf:
            self._extra_leaf(row, position)
        elif position is not None and row[1] != position:
            self._differs(Message("the stored tree puts leaf {leaf} at log position {stored}; "
                                  "the log has it at {position}", leaf=leaf,
                                  stored=_shown(row[1]), position=position), position,
                          {**evidence, "stored_position": _stored_position(row[1])})

    def _extra_hash(self, row: tuple[int, bytes], position: int | None) -> None:
        level, n = split_stored_hash_index(row[0]) if row[0] >= 0 else (None, None)
        self._differs(Message("the stored tree holds hash {index}, which no event gives",
                              index=row[0]), position,
                      {"source": STORED_TREE, "index": row[0], "level": level, "n": n,
                       "stored": _shown(row[1]), "recomputed": None})

    def _extra_leaf(self, row: tuple[int, int], position: int | None) -> None:
        self._differs(Message("the stored tree holds leaf {leaf} (position {position}), which "
                              "no event gives", leaf=row[0], position=_shown(row[1])), position,
                      {"source": STORED_TREE, "leaf": row[0],
                       "stored_position": _stored_position(row[1]),
                       "position": None})

    def _differs(self, what: str, position: int | None, evidence: dict) -> None:
        self.finding = Finding(
            "ROOT_MISMATCH", Message(
                "{what}: the stored tree and the events disagree (one or the other was changed "
                "outside the ledger), so proofs, receipts and checkpoints read from the tree do "
                "not describe these events", what=what),
            position=position, evidence=evidence)

    def settle(self, size: int, grew: bool = False) -> None:
        """Work out :meth:`findings` now and let go of the stored tree's iterators: the
        audit can then travel between processes (``log_helper``) and be judged anywhere."""
        self.settled = self.findings(size, grew)
        self.hashes = self.leaves = iter(())

    def findings(self, size: int, grew: bool = False) -> list[Finding]:
        """At the end of the log (``size`` leaves): the first difference, or rows past it
        (unless the log ``grew`` while it was read: then those rows are the new events')."""
        if self.settled is not None:
            return self.settled
        if self.unbuilt:
            return [Finding(
                "TREE_NOT_BUILT", Message(
                    "the stored tree is empty while the log holds {size} events: a ledger from "
                    "before the log (or its tree was deleted); the next recorded step rebuilds "
                    "it from the events", size=size),
                evidence={"source": STORED_TREE, "log_size": size})]
        if self.finding is None and not grew:
            extra_hash = next(self.hashes, None)
            extra_leaf = next(self.leaves, None)
            if extra_hash is not None:
                self._extra_hash(extra_hash, None)
            elif extra_leaf is not None:
                self._extra_leaf(extra_leaf, None)
        if self.finding is None or (self.since is not None and self.finding.position
                                    is not None and self.finding.position < self.since):
            return []
        return [self.finding]


class LogAudit:
    """See the module docstring."""

    def __init__(self, evidence: Sequence[Evidence] = (),
                 stored: StoredTreeAudit | None = None,
                 frontier: CompactRange | None = None) -> None:
        self.stored = stored
        # A resumed audit starts from the frontier it saved: rows before it are not streamed,
        # and the roots and leaves the evidence needs there are handed in (``known``).
        self.frontier = frontier.copy() if frontier is not None else CompactRange()
        self.evidence = list(evidence)
        self.proofs: dict[str, TlogProof] = {}
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT, self.frontier.size: self.frontier.root()}
        self.want_roots: set[int] = set()
        self.want_leaves: set[int] = set()
        self.leaves: dict[int, bytes] = {}
        # (size, time, witness, key id, note, label) of every timestamped signature line.
        self.cosignatures: list[tuple[int, int, str, int, bytes, str]] = []
        # Rows outside some candidate window: (leaf, position, stream, recorded_at, seconds).
        self.outside: list[tuple[int, int | None, str | None, str, int]] = []
        for item in self.evidence:
            note = item.data
            if item.receipt:
                try:
                    proof = TlogProof.parse(item.data)
                except (InputError, VerificationFailed):
                    continue
                self.proofs[item.label] = proof
                self.want_leaves.add(proof.index)
                note = proof.checkpoint
            size = _claimed_size(note)
            if size is not None:
                self.want_roots.add(size)
                self.cosignatures.extend(_timestamped(note, size, item.label))
        self.windows = WitnessWindows([(c[0], c[1], c[2]) for c in self.cosignatures])

    @property
    def size(self) -> int:
        return self.frontier.size

    def add(self, event_hash: bytes, recorded_at: str | None = None,
            position: int | None = None, stream: str | None = None) -> None:
        """The next row of the log, in position order (every row: a damaged one too), with
        its canonical recorded_at when it could be read."""
        self.add_page([event_hash], [recorded_at], [position], [stream])

    def add_page(self, event_hashes: Sequence[bytes],
                 recorded_ats: Sequence[str | None] | None,
                 positions: Sequence[int | None], streams: Sequence[str | None] | None) -> None:
        """The next rows of the log, in position order, as ``add`` takes them one by one
        (the verifier hands in a page at a time: the tree grows by the whole page and the
        stored tree is compared a page at a time). Their ``recorded_ats`` and ``streams`` are
        read only against witnesses' windows: None when the audit has none (``windows``)."""
        first = self.frontier.size
        if self.windows:
            assert recorded_ats is not None and streams is not None, "the windows read them"
            for index, recorded_at, position, stream in zip(
                    range(first, first + len(positions)), recorded_ats, positions, streams):
                seconds = None if recorded_at is None else _seconds(recorded_at)
                if seconds is not None and self.windows.outside(index, seconds) is not None:
                    self.outside.append((index, position, stream, recorded_at, seconds))
        last = first + len(event_hashes)
        for index in self.want_leaves:
            if first <= index < last:
                self.leaves[index] = event_hashes[index - first]
        leaves = [leaf_hash(h) for h in event_hashes]
        # The tree grows to each size a checkpoint names within the page, its root noted.
        created: list[bytes] = []
        at = 0
        for size in sorted(s for s in self.want_roots if first < s <= last):
            created += self.frontier.extend(leaves[at:size - first])
            self.roots[size] = self.frontier.root()
            at = size - first
        created += self.frontier.extend(leaves[at:])
        if self.stored is not None:
            self.stored.add_page(first, positions, created)

    def root(self) -> bytes:
        return self.frontier.root()

    def known(self, roots: dict[int, bytes], leaves: dict[int, bytes]) -> None:
        """Roots and leaves before the frontier a resumed audit started from, each proven
        against the saved root by the caller."""
        self.roots.update(roots)
        self.leaves.update(leaves)

    # -- judging, at the end of the run ------------------------------------------------------

    def findings(self, state: LedgerState, grew: bool = False) -> list[Finding]:
        """Every finding about the evidence, judged against the recomputed tree (``grew``:
        the log gained events after the run read its end)."""
        findings: list[Finding] = []
        signed: list[tuple[Checkpoint, Evidence]] = []
        for item in self.evidence:
            note = item.data
            proof = self.proofs.get(item.label) if item.receipt else None
            if item.receipt and proof is None:
                findings.append(self._bad(item, "it is not a c2sp.org/tlog-proof"))
                continue
            if proof is not None:
                note = proof.checkpoint
            try:
                checkpoint = open_log_checkpoint(note, state)
            except (VerificationFailed, InputError) as exc:
                findings.append(self._bad(item, str(exc)))
                continue
            if proof is not None:
                try:
                    if proof.extra is None or len(proof.extra) != 32:
                        raise VerificationFailed("it carries no 32-byte event hash")
                    check_record(list(proof.proof), checkpoint.size, checkpoint.root,
                                 proof.index, leaf_hash(proof.extra))
                except VerificationFailed as exc:
                    findings.append(self._bad(item, str(exc)))
                    continue
                findings.extend(self._receipted(item, proof))
            signed.append((checkpoint, item))
            findings.extend(self._against_log(checkpoint, item))
        findings.extend(self._forks(signed))
        findings.extend(self._witnessed(state))
        if self.stored is not None:
            findings.extend(self.stored.findings(self.size, grew))
        return findings

    def _witnessed(self, state: LedgerState) -> list[Finding]:
        """Cosignatures checked with the roster's inspector keys; then each row kept while
        streaming is judged against the windows of the cosignatures that verified."""
        findings, valid = [], []
        origin = state.ledger_id or ""
        for size, time, who, key_id, note, label in self.cosignatures:
            member = state.witness(who)  # a genesis witness, or an enrolled inspector
            if who == origin or member is None or member.role != WITNESS_ROLE:
                continue  # not a witness's line (the log's own, or an unknown key's)
            verifier = witness_verifier(who, member.public_key.raw)
            try:
                open_log_checkpoint(note, state)
                text, sigs = parse_note(note)
                ok = key_id == verifier.key_id and any(
                    sig.name == who and sig.key_id == key_id
                    and verifier.verify(text.encode("utf-8"), sig.signature) for sig in sigs)
            except (InputError, VerificationFailed):
                continue  # the checkpoint itself is reported above
            if ok and not member.revoked:
                valid.append((size, time, who))
            elif not ok:
                findings.append(Finding(
                    "CHECKPOINT_SIGNATURE_INVALID",
                    Message("checkpoint {label}: the cosignature by {who} does not verify "
                            "with {who}'s key in the ledger", label=label, who=who),
                    evidence={"source": label, "witness": who}))
        windows = WitnessWindows(valid)
        for leaf, position, stream, recorded_at, seconds in self.outside:
            out = windows.outside(leaf, seconds)
            if out is None:
                continue
            side, size, time, who = out
            moment = datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if side == "before":
                why = Message("earlier than {moment}, when {who} cosigned the checkpoint of "
                              "size {size}, which does not hold it (leaf {leaf})",
                              moment=moment, who=who, size=size, leaf=leaf)
            else:
                why = Message("later than {moment}, when {who} cosigned the checkpoint of "
                              "size {size}, which already holds it (leaf {leaf})",
                              moment=moment, who=who, size=size, leaf=leaf)
            findings.append(Finding(
                "RECORDED_AT_OUTSIDE_WITNESS_WINDOW",
                Message("recorded_at {recorded_at} is {why}", recorded_at=recorded_at, why=why),
                position=position, stream=stream,
                evidence={"leaf": leaf, "recorded_at": recorded_at, "checkpoint_size": size,
                          "cosigned_at": time, "witness": who}))
        return findings

    def _bad(self, item: Evidence, why: str) -> Finding:
        message = (Message("receipt {label} does not verify: {why}", label=item.label, why=why)
                   if item.receipt else
                   Message("checkpoint {label} does not verify: {why}", label=item.label, why=why))
        return Finding("CHECKPOINT_SIGNATURE_INVALID", message,
                       evidence={"source": item.label, "reason": why})

    def _matches(self, checkpoint: Checkpoint) -> bool:
        return (checkpoint.size <= self.size
                and self.roots.get(checkpoint.size) == checkpoint.root)

    def _against_log(self, checkpoint: Checkpoint, item: Evidence) -> list[Finding]:
        evidence = {"source": item.label, "checkpoint_size": checkpoint.size,
                    "checkpoint_root": checkpoint.root.hex(), "log_size": self.size}
        if checkpoint.size > self.size:
            return [Finding("LOG_TRUNCATED", Message(
                "checkpoint {label} commits to {size} events; the log holds {log_size}: events "
                "were removed", label=item.label, size=checkpoint.size, log_size=self.size),
                evidence=evidence)]
        root = self.roots.get(checkpoint.size)
        if root != checkpoint.root:
            return [Finding("ROOT_MISMATCH", Message(
                "the first {size} events hash to root {root}…, not the root {signed}… "
                "checkpoint {label} signed: events were changed, removed or inserted",
                size=checkpoint.size, root=(root or b"").hex()[:16],
                signed=checkpoint.root.hex()[:16], label=item.label),
                            evidence={**evidence, "recomputed_root": (root or b"").hex()})]
        return []

    def _receipted(self, item: Evidence, proof: TlogProof) -> list[Finding]:
        return receipted_event(item.label, item.data, proof, self.leaves.get(proof.index),
                               Message("the log holds only {size} events", size=self.size))

    def _forks(self, signed: list[tuple[Checkpoint, Evidence]]) -> list[Finding]:
        findings = []
        ordered = sorted(signed, key=lambda pair: pair[0].size)
        for (old, old_item), (new, new_item) in zip(ordered, ordered[1:]):
            same_size_split = old.size == new.size and old.root != new.root
            rewritten = not self._matches(old) and self._matches(new)
            if same_size_split or rewritten:
                findings.append(Finding(
                    "CHECKPOINT_INCONSISTENT",
                    Message("checkpoints {older} (size {older_size}) and {newer} (size "
                            "{newer_size}) cannot both describe this append-only log: it forked",
                            older=old_item.label, older_size=old.size, newer=new_item.label,
                            newer_size=new.size),
                    evidence={"older": old_item.data.decode("utf-8", "replace"),
                              "newer": new_item.data.decode("utf-8", "replace")}))
        return findings
