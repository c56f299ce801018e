"""Verify an evidence bundle offline: no database, only the authority's and the log's keys.

1. The checkpoint must be signed by the log key the auditor holds (``open_checkpoint``), and
   that key must be one the ledger's authority named (``ledger.log_key_set`` in the bundle);
   cosignatures are checked against the enrolled inspectors of the bundle's roster.
2. Every event's inclusion proof must lead from its leaf — the event hash recomputed from the
   stored bytes — to the checkpoint's root (``INCLUSION_PROOF_INVALID`` otherwise).
3. The events are then decoded and judged exactly as ``custody verify`` decodes and judges
   rows (``ledger.domain.stored.prepare``, the one fold ``LedgerState.apply``, signatures by
   the same strict rule), in log order. The genesis must name the trusted authority key
   (``AUTHORITY_UNTRUSTED`` otherwise). Positions are not contiguous in a bundle, so no
   ``POSITION_GAP``; but a stream's steps must be (``SEQUENCE_GAP``, ``CHAIN_BROKEN``).
   An event's position is its leaf index + 1 (a bundle carries no unsigned positions).

What a bundle cannot show: that its lots took no step after the last one it holds (only the
whole log can), and duty coverage of its rooms beyond the bundled lots' stays.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import msgpack

from ledger.core.collector import quiet
from ledger.verify.log_keys import witness_key
from ledger.tlog.witness import witness_cosignatures
from ledger.core import digests
from ledger.tlog.bundle import FORMAT, Bundle
from ledger.tlog.checkpoint import Checkpoint, open_checkpoint
from ledger.core.errors import LedgerError, ResourceError, VerificationFailed
from ledger.core.findings import Finding, Report
from ledger.tlog.merkle import check_record, leaf_hash
from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey, parse_note
from ledger.core.roster import keys_named
from ledger.core.state import Event, LedgerState
from ledger.core.text import Message
from ledger.domain import events as domain_events
from ledger.domain.stored import Prepared, Raw
from ledger.verify.rows import Scope, prepare_chunk


@dataclass
class BundleReport:
    """The report (``schemas/report.schema.json``) and what the bundle itself showed."""

    report: Report
    bundle: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        """``verify-bundle --json`` (``schemas/verify-bundle.schema.json``); its log position
        is the checkpoint's size, the log the bundle's events are proven part of."""
        checkpoint = self.bundle.get("checkpoint")
        return {"log_position": checkpoint["size"] if checkpoint else None,
                **self.report.to_data(), "bundle": self.bundle}


def verify_bundle(bundle: Bundle, authority_key: bytes, log_key: bytes, *,
                  workers: int = 1) -> BundleReport:
    """Check ``bundle`` trusting only ``authority_key`` (for the genesis) and ``log_key``
    (for the checkpoint), both raw Ed25519 public keys; return every finding.

    ``workers`` > 1 decodes the events, checks their proofs and verifies their signatures in
    that many processes (as ``custody verify`` does); the fold stays in this one."""
    report = Report()
    checkpoint, origin = _open_checkpoint(bundle.checkpoint, log_key, report)
    rows, proof_errors = _prepared(bundle, checkpoint, workers)
    state = LedgerState()
    seen: set[bytes] = set()
    proofs = 0
    for item, row, proof_error in zip(bundle.events, rows, proof_errors):
        position = item.index + 1
        stream = row.body["stream"] if row.body is not None else (
            row.claims[0] if row.claims else None)
        if checkpoint is not None and proof_error is None:
            proofs += 1
        elif checkpoint is not None:
            report.findings.append(Finding(
                "INCLUSION_PROOF_INVALID",
                Message("the event at position {position} is not proven to be leaf {index} of "
                        "the checkpoint's log: {reason}", position=position, index=item.index,
                        reason=str(proof_error)), position, stream,
                {"index": item.index, "event_hash": row.event_hash.hex()}))
        if row.event_hash in seen:
            report.findings.append(Finding(
                "DUPLICATE_EVENT", Message("the event at position {position} is in the bundle "
                                           "twice, byte for byte", position=position),
                position, stream,
                {"event_hash": row.event_hash.hex()}))
            continue
        seen.add(row.event_hash)
        report.events += 1
        if row.problem is not None:
            claims = row.claims or (str(stream), 0)
            state.skip(claims[0], claims[1], row.event_hash.hex(), position)
            report.findings.append(row.problem.at(position, stream))
            continue
        body, signatures = row.body, row.signatures
        assert body is not None and signatures is not None and row.recorded_at is not None
        if body["type"] == "ledger.genesis" and state.ledger_id is None:
            report.extend(f.at(position, stream)
                          for f in _untrusted_genesis(body, authority_key))
        report.signatures += len(signatures)
        findings = state.apply(Event(position, body, signatures, row.event_hash.hex(),
                                     row.recorded_at, row.digest), row.verified).findings
        report.extend(f.at(position, stream) for f in findings)
    if not bundle.events:
        report.findings.append(Finding("GENESIS_MISSING", Message("the bundle holds no event")))
    report.extend(_log_key_named(state, log_key, origin))
    witnesses = _witnesses(bundle.checkpoint, origin, state, report)
    for lot_id in bundle.lots:
        if state.head(f"lot:{lot_id}") is None:
            report.findings.append(Finding(
                "SEQUENCE_GAP", Message("the bundle is about lot {lot} but holds none of its "
                                        "steps", lot=lot_id),
                stream=f"lot:{lot_id}", evidence={"expected": 1, "found": None}))
    report.streams = len(state.heads)
    return BundleReport(report, {
        "format": FORMAT,
        "ledger": state.ledger_id,
        "lots": list(bundle.lots),
        "events": len(bundle.events),
        "proofs_verified": proofs,
        "checkpoint": None if checkpoint is None else {
            "origin": checkpoint.origin, "size": checkpoint.size,
            "root": checkpoint.root.hex(),
            "note": bundle.checkpoint.decode("utf-8", "replace")},
        "witnesses": witnesses,
        "authority_key": digests.key_id(authority_key),
        "log_key": digests.key_id(log_key),
    })


PARALLEL_FROM = 5000  # events: below this a pool costs more than it saves (bench_bundle)
Proved = tuple[list[Prepared], list[str | None]]


def _prepared(bundle: Bundle, checkpoint: Checkpoint | None, workers: int) -> Proved:
    """Every event decoded as the verifier's workers decode rows (``prepare``: hashes,
    schema, signatures), and why its inclusion proof fails (None: it holds)."""
    raws: list[Raw] = []
    ring: dict[str, bytes] = {}
    for event in bundle.events:
        columns, named = stored_columns(event.stored)
        raws.append((event.index + 1, *columns, event.stored))
        ring.update(named)
    # The keyring is a guess (the last key each person is named with): a signature result is
    # used only for the exact key the roster holds at that step, and the fold verifies any
    # other itself, so a wrong guess costs time, never a wrong verdict.
    tree = (checkpoint.size, checkpoint.root) if checkpoint is not None else None
    proofs = [(e.index, e.proof) for e in bundle.events]
    if workers <= 1 or len(raws) < PARALLEL_FROM:
        return prepare_and_prove(raws, ring, tree, proofs)
    size = -(-len(raws) // (2 * workers))
    rows: list[Prepared] = []
    errors: list[str | None] = []
    try:
        with ProcessPoolExecutor(workers, initializer=quiet) as pool:
            parts = [pool.submit(prepare_and_prove, raws[i:i + size], ring, tree,
                                 proofs[i:i + size]) for i in range(0, len(raws), size)]
            for part in parts:
                done = part.result()
                rows += done[0]
                errors += done[1]
    except BrokenProcessPool:
        raise ResourceError("a verification worker process stopped unexpectedly (killed, or "
                            "out of memory); run again, or with --workers 1") from None
    return rows, errors


def prepare_and_prove(raws: list[Raw], ring: dict[str, bytes],
                      tree: tuple[int, bytes] | None,
                      proofs: list[tuple[int, tuple[bytes, ...]]]) -> Proved:
    """One chunk of a bundle's events: prepared rows, and each inclusion proof's failure."""
    rows = prepare_chunk(raws, ring, Scope())
    errors: list[str | None] = []
    for row, (index, proof) in zip(rows, proofs):
        error = None
        if tree is not None:
            try:
                check_record(proof, tree[0], tree[1], index, leaf_hash(row.event_hash))
            except VerificationFailed as exc:
                error = str(exc)
        errors.append(error)
    return rows, errors


def _open_checkpoint(note: bytes, log_key: bytes, report: Report
                     ) -> tuple[Checkpoint | None, str]:
    """The checkpoint, opened with the log key (named as the note's origin), or None with a
    finding saying why not."""
    origin = ""
    try:
        origin = Checkpoint.parse(parse_note(note)[0]).origin
        verifier = Ed25519Verifier(VerifierKey(origin, SIG_ED25519, log_key))
        return open_checkpoint(note, origin, verifier)[0], origin
    except LedgerError as exc:
        report.findings.append(Finding(
            "CHECKPOINT_SIGNATURE_INVALID", Message(
                "the bundle's checkpoint does not open with the log key {key}: {reason}; no "
                "inclusion proof can be checked", key=digests.key_id(log_key)[:16],
                reason=str(exc)),
            evidence={"log_key": digests.key_id(log_key)}))
        return None, origin


def stored_columns(stored: bytes) -> tuple[tuple[Any, Any, Any], dict[str, bytes]]:
    """The library's columns (stream, version, topic) as the stored body gives them — a
    bundle carries no columns of its own (the proofs bind only the stored bytes) — and the
    keys the body names. Read leniently: ``prepare`` then decodes the bytes strictly and
    reports whatever is wrong with them."""
    try:
        body = msgpack.unpackb(stored, raw=False, ext_hook=_any_extension)["body"]
        columns = (body["stream"], body["seq"], domain_events.TOPICS.get(body["type"]))
    except Exception:  # noqa: BLE001 - any damage at all: prepare names it
        return ("?", None, None), {}
    try:
        return columns, dict(keys_named(body))
    except Exception:  # noqa: BLE001 - a malformed key: prepare names it
        return columns, {}


def _any_extension(code: int, data: bytes) -> bytes:
    return data


def _untrusted_genesis(body: Any, authority_key: bytes) -> list[Finding]:
    named = body["authority"]["public_key"]
    if named == authority_key.hex():
        return []
    return [Finding("AUTHORITY_UNTRUSTED", Message(
                "the genesis names authority {authority} with key {key}, not the trusted key "
                "{trusted} (--trust)", authority=body["authority"]["id"],
                key=digests.key_id(bytes.fromhex(named))[:16],
                trusted=digests.key_id(authority_key)[:16]),
                    evidence={"expected": digests.key_id(authority_key),
                              "found": digests.key_id(bytes.fromhex(named))})]


def _log_key_named(state: LedgerState, log_key: bytes, origin: str) -> list[Finding]:
    findings = []
    if log_key.hex() not in state.log_keys:
        findings.append(Finding(
            "CHECKPOINT_SIGNATURE_INVALID", Message(
                "the log key {key} (--log-key) is not one the ledger's authority named "
                "(ledger.log_key_set)", key=digests.key_id(log_key)[:16]),
            evidence={"log_key": digests.key_id(log_key),
                      "named": [digests.key_id(bytes.fromhex(k)) for k in state.log_keys]}))
    if state.ledger_id is not None and origin and origin != state.ledger_id:
        findings.append(Finding(
            "CHECKPOINT_SIGNATURE_INVALID", Message(
                "the checkpoint is for log {origin!r}, the bundle's events for ledger "
                "{ledger!r}", origin=origin, ledger=state.ledger_id),
            evidence={"expected": state.ledger_id, "found": origin}))
    return findings


def _witnesses(note: bytes, origin: str, state: LedgerState, report: Report
               ) -> list[dict[str, Any]]:
    """The checkpoint's cosignatures by the bundle's enrolled inspectors."""
    if not origin:
        return []
    try:
        return [{"witness": c.witness, "time": c.timestamp}
                for c in witness_cosignatures(note, [origin], witness_key(state))]
    except LedgerError as exc:
        report.findings.append(Finding("CHECKPOINT_SIGNATURE_INVALID", Message(
            "the bundle's checkpoint carries a bad cosignature: {reason}", reason=str(exc))))
        return []
