"""The audit of a log read from its published tiles (``custody monitor --entries``): the
stored events, in leaf order, decoded and judged exactly as ``custody verify`` decodes and
judges rows — ``prepare_chunk`` (canonical bytes, both digests, schema, signatures by the
strict rule) and the one fold, ``LedgerState.apply`` — with no database.

It is resumable: the state it reached (the fold, the tree's right edge, the checkpoint it
ended at) is saved in the monitor's state directory in the format of ``verify --state``
(``saved_state``), and the next run carries on from the leaf it reached. An event's position
is its leaf index + 1 (a published log carries no other positions; on SQLite they are the
same). The tree it rebuilds from the events must give the checkpoint's root
(``ROOT_MISMATCH`` otherwise), and the log key the checkpoint is signed with must be one the
ledger's authority named (``CHECKPOINT_SIGNATURE_INVALID``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ledger.core import digests
from ledger.core.findings import Finding
from ledger.core.state import Event, LedgerState
from ledger.core.text import Message
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.merkle import CompactRange, leaf_hash
from ledger.verify import saved_state
from ledger.verify.bundle import stored_columns
from ledger.verify.rows import Scope, prepare_chunk
from ledger.verify.saved_state import Header, SavedState


class TiledAudit:
    """The fold and the tree's right edge, from leaf 0 or from a saved state."""

    def __init__(self, state: LedgerState | None = None,
                 frontier: CompactRange | None = None) -> None:
        self.state = state if state is not None else LedgerState()
        self.frontier = frontier.copy() if frontier is not None else CompactRange()
        self.events = 0
        self.signatures = 0

    @classmethod
    def resume(cls, directory: Path, ledger_id: str) -> "TiledAudit | None":
        """The audit saved in ``directory`` for ``ledger_id``, or None when none is saved."""
        if not saved_state.exists(directory):
            return None
        saved = SavedState(directory, ledger_id)
        return cls(saved.load(), saved.header.frontier)

    @property
    def size(self) -> int:
        return self.frontier.size

    def add(self, stored: Sequence[bytes]) -> list[Finding]:
        """Judge the next events, in leaf order (leaf ``size`` first); return the findings."""
        first = self.frontier.size
        raws, ring = [], {pid: m.public_key.raw for pid, m in self.state.roster.items()}
        for offset, data in enumerate(stored):
            columns, named = stored_columns(data)
            raws.append((first + offset + 1, *columns, data))
            ring.update(named)
        findings: list[Finding] = []
        for raw, row in zip(raws, prepare_chunk(raws, ring, Scope())):
            position = raw[0]
            self.frontier.append(leaf_hash(row.event_hash))
            self.events += 1
            stream = row.body["stream"] if row.body is not None else (
                row.claims[0] if row.claims else None)
            if row.problem is not None:
                claims = row.claims or (str(stream), 0)
                self.state.skip(claims[0], claims[1], row.event_hash.hex(), position)
                findings.append(row.problem.at(position, stream))
                continue
            assert row.body is not None and row.signatures is not None
            assert row.recorded_at is not None
            self.signatures += len(row.signatures)
            found = self.state.apply(Event(position, row.body, row.signatures,
                                           row.event_hash.hex(), row.recorded_at, row.digest),
                                     row.verified).findings
            findings.extend(f.at(position, stream) for f in found)
        return findings

    def finish(self, checkpoint: Checkpoint, log_key: bytes, label: str) -> list[Finding]:
        """At the checkpoint's size: the tree rebuilt from the events must have its root,
        its key must be a log key the ledger named; and the rooms' duty coverage."""
        findings = list(self.state.duty_gaps())
        if self.frontier.root() != checkpoint.root:
            findings.append(Finding("ROOT_MISMATCH", Message(
                "the {size} events published at {label} hash to root {root}…, not the root "
                "{signed}… their checkpoint signed", size=checkpoint.size, label=label,
                root=self.frontier.root().hex()[:16], signed=checkpoint.root.hex()[:16]),
                evidence={"source": label, "checkpoint_size": checkpoint.size,
                          "checkpoint_root": checkpoint.root.hex(),
                          "recomputed_root": self.frontier.root().hex()}))
        if log_key.hex() not in self.state.log_keys:
            findings.append(Finding("CHECKPOINT_SIGNATURE_INVALID", Message(
                "the log key {key} (--log-key) is not one the ledger's authority named "
                "(ledger.log_key_set)", key=digests.key_id(log_key)[:16]),
                evidence={"log_key": digests.key_id(log_key),
                          "named": [digests.key_id(bytes.fromhex(k))
                                    for k in self.state.log_keys]}))
        if self.state.ledger_id is not None and checkpoint.origin != self.state.ledger_id:
            findings.append(Finding("CHECKPOINT_SIGNATURE_INVALID", Message(
                "the checkpoint is for log {origin!r}, the events for ledger {ledger!r}",
                origin=checkpoint.origin, ledger=self.state.ledger_id),
                evidence={"expected": self.state.ledger_id, "found": checkpoint.origin}))
        return findings

    def save(self, directory: Path, checkpoint: Checkpoint, note: bytes) -> Path:
        """Save the fold and the tree's right edge, at the checkpoint's size."""
        header = Header(self.state.ledger_id or "", self.frontier.size, self.frontier.root(),
                        self.frontier.size, self.frontier.copy(),
                        note.decode("utf-8", "replace"))
        return saved_state.save(directory, header, self.state)
