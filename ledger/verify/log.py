"""The completeness half of verification: the Merkle tree recomputed from the events, held
against every checkpoint and receipt — the ledger's own and those an auditor brings.

:class:`LogAudit` is fed every stored row's event hash in log order (the verifier's main
loop), keeps only the tree's right edge (``CompactRange``: at most 64 hashes), and notes the
root at each size a checkpoint names and the event hash at each index a receipt names. At
the end, with the fold's final state (which log keys the authority named), it reports:

- ``CHECKPOINT_SIGNATURE_INVALID``: a checkpoint (or receipt) that does not open with a log
  key the ledger named, for the ledger's origin;
- ``LOG_TRUNCATED``: a signed checkpoint commits to more events than the log holds;
- ``ROOT_MISMATCH``: the tree of the events at a signed checkpoint's size is not its root;
- ``CHECKPOINT_INCONSISTENT``: two signed checkpoints that no append-only log can both
  describe (one size, two roots; or an older one the log no longer matches while a newer
  one does — history was rewritten in between): both notes are the evidence;
- ``EVENT_MISSING``: a verified receipt whose event is not at its index any more;
- ``RECORDED_AT_OUTSIDE_WITNESS_WINDOW``: an event whose recorded_at is earlier than the
  time a witness (an enrolled inspector) cosigned a checkpoint that does not hold it, or
  later than the time one cosigned a checkpoint that does. While streaming, each row is held
  against every cosignature the checkpoints carry (few: windows sorted by size); only the
  rows outside some window are kept, and judged at the end with the cosignatures that verify
  with the final roster's inspector keys. A cosignature by an inspector that does not verify
  is ``CHECKPOINT_SIGNATURE_INVALID``.

Pure: no I/O; the verifier hands in the notes and the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from ledger.core.canonical import parse_timestamp
from ledger.core.checkpoint import Checkpoint, TlogProof
from ledger.core.errors import InputError, VerificationFailed
from ledger.core.findings import Finding
from ledger.core.merkle import EMPTY_ROOT, CompactRange, check_record, leaf_hash
from ledger.core.note import parse_note
from ledger.core.log_keys import open_log_checkpoint
from ledger.core.state import LedgerState
from ledger.core.text import Message
from ledger.core.witness import WITNESS_ROLE, WitnessWindows, inspector_verifier


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


class LogAudit:
    """See the module docstring."""

    def __init__(self, evidence: Sequence[Evidence] = ()) -> None:
        self.frontier = CompactRange()
        self.evidence = list(evidence)
        self.proofs: dict[str, TlogProof] = {}
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT}
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
        index = self.frontier.size
        if self.windows and recorded_at is not None:
            seconds = _seconds(recorded_at)
            if seconds is not None and self.windows.outside(index, seconds) is not None:
                self.outside.append((index, position, stream, recorded_at, seconds))
        if index in self.want_leaves:
            self.leaves[index] = event_hash
        self.frontier.append(leaf_hash(event_hash))
        if self.frontier.size in self.want_roots:
            self.roots[self.frontier.size] = self.frontier.root()

    def root(self) -> bytes:
        return self.frontier.root()

    # -- judging, at the end of the run ------------------------------------------------------

    def findings(self, state: LedgerState) -> list[Finding]:
        """Every finding about the evidence, judged against the recomputed tree."""
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
        return findings

    def _witnessed(self, state: LedgerState) -> list[Finding]:
        """Cosignatures checked with the roster's inspector keys; then each row kept while
        streaming is judged against the windows of the cosignatures that verified."""
        findings, valid = [], []
        origin = state.ledger_id or ""
        for size, time, who, key_id, note, label in self.cosignatures:
            member = state.member(who)
            if who == origin or member is None or member.role != WITNESS_ROLE:
                continue  # not a witness's line (the log's own, or an unknown key's)
            verifier = inspector_verifier(member)
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
                            "with {who}'s enrolled key", label=label, who=who),
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
        found = self.leaves.get(proof.index)
        if found == proof.extra:
            return []
        where = (Message("the log holds only {size} events", size=self.size) if found is None
                 else Message("event {found}… is there instead", found=found.hex()[:16]))
        assert proof.extra is not None
        return [Finding("EVENT_MISSING", Message(
            "receipt {label} proves event {event}… at index {index}, but {where}",
            label=item.label, event=proof.extra.hex()[:16], index=proof.index, where=where),
                        evidence={"source": item.label, "index": proof.index,
                                  "event_hash": proof.extra.hex(),
                                  "receipt": item.data.decode("utf-8", "replace")})]

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
