"""Findings and reports: what a check found, never a bare boolean.

Every finding has a stable code (listed in ``CODES`` with its severity and meaning), the
position in the global log where it was found, the stream, a message a person can act on, and
the evidence (expected vs found hashes, key ids, missing roles…).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping

from ledger.core.text import Message


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# code -> (severity, what it means: a Message, so the CLI can say it in the reader's language)
CODES: Mapping[str, tuple[Severity, str]] = {
    "NON_CANONICAL": (Severity.ERROR, Message("stored bytes are not the canonical encoding")),
    "ENVELOPE_MISMATCH": (Severity.ERROR, Message(
        "stored id, version or topic disagree with the body")),
    "SCHEMA_VIOLATION": (Severity.ERROR, Message("the event body does not match its JSON Schema")),
    "UNKNOWN_EVENT_TYPE": (Severity.ERROR, Message("the event type is not one this ledger knows")),
    "CHAIN_BROKEN": (Severity.ERROR, Message(
        "prev does not match the hash of the stream's previous event")),
    "SEQUENCE_GAP": (Severity.ERROR, Message("a stream's event numbers skip or repeat")),
    "POSITION_GAP": (Severity.ERROR, Message("global log positions skip or repeat")),
    "POSITION_SKIPPED": (Severity.WARNING, Message("positions skip where the store may skip them")),
    "LEDGER_MISMATCH": (Severity.ERROR, Message("the event names another ledger")),
    "GENESIS_MISSING": (Severity.ERROR, Message(
        "the log does not start with the ledger's genesis")),
    "SIGNATURE_INVALID": (Severity.ERROR, Message("a signature does not verify")),
    "SIGNER_UNKNOWN": (Severity.ERROR, Message("a signer is not in the roster at that position")),
    "KEY_INVALID": (Severity.ERROR, Message(
        "an event names a public key no one may enrol (small order, non-canonical, off the "
        "curve or outside the prime-order subgroup)")),
    "KEY_REVOKED": (Severity.ERROR, Message("a signer's key was revoked before that position")),
    "KEY_EXPIRED": (Severity.ERROR, Message(
        "a signer's key was no longer valid when the step occurred")),
    "SIGNER_NOT_ATTENDEE": (Severity.ERROR, Message("someone signed who is not listed as present")),
    "ATTENDEE_UNSIGNED": (Severity.ERROR, Message("someone listed as present did not sign")),
    "NOT_AUTHORITY": (Severity.ERROR, Message(
        "a roster or policy event is not signed by the authority")),
    "PRESENCE_SHORT": (Severity.ERROR, Message(
        "fewer people of the required roles than the policy needs")),
    "ROLE_MISMATCH": (Severity.ERROR, Message("the event claims a role the roster does not give")),
    "POLICY_MISMATCH": (Severity.ERROR, Message(
        "the event names a policy other than the one in force")),
    "SEAL_MISMATCH": (Severity.ERROR, Message("seal numbers checked differ from those on record")),
    "COUNT_MISMATCH": (Severity.ERROR, Message(
        "the count checked differs from the count on record")),
    "CUSTODY_GAP": (Severity.ERROR, Message(
        "the lot was handed over by someone who did not hold it")),
    "TIME_REVERSED": (Severity.ERROR, Message(
        "a step's occurred_at is before the lot's previous step")),
    "TIME_IN_FUTURE": (Severity.ERROR, Message("occurred_at is later than when it was recorded")),
    "LOT_CLOSED": (Severity.ERROR, Message("a step follows the lot's return")),
    "LOT_PACKED": (Severity.ERROR, Message("a packed lot took a step of its own")),
    "STEP_NOT_APPLICABLE": (Severity.ERROR, Message("the step does not apply to this kind of lot")),
    "ROOM_UNLICENSED": (Severity.ERROR, Message(
        "a secure room is unregistered or its licence lapsed")),
    "DUTY_UNCOVERED": (Severity.ERROR, Message(
        "a secure room holding papers was not staffed to policy")),
    "DUPLICATE_EVENT": (Severity.ERROR, Message("the same event is stored twice")),
    "PLACE_UNKNOWN": (Severity.ERROR, Message(
        "a step names a place, or a registration a site to lie within, that is not registered")),
    "ACKNOWLEDGED_VIOLATION": (Severity.WARNING, Message(
        "a rule was broken and acknowledged on record")),
    "PRESENCE_CONFLICT": (Severity.WARNING, Message(
        "one person signed at two places at once: a step elsewhere during their open duty "
        "shift, or two places within the policy's window")),
    "CORRECTION": (Severity.WARNING, Message(
        "a step restates an earlier one of its lot (flagged forever)")),
    "CORRECTION_INVALID": (Severity.ERROR, Message(
        "a correction names no step of its lot by that hash")),
    "KEY_REUSED": (Severity.ERROR, Message("a key enrolled for one person is named for another")),
    "RECORDED_AT_REVERSED": (Severity.ERROR, Message("recorded_at decreases along the log")),
    "LOG_TRUNCATED": (Severity.ERROR, Message(
        "a checkpoint commits to more events than the log holds")),
    "ROOT_MISMATCH": (Severity.ERROR, Message(
        "the tree recomputed from the events is not the one a checkpoint commits to, or "
        "differs from the stored tree")),
    "TREE_NOT_BUILT": (Severity.WARNING, Message(
        "the stored Merkle tree is empty while the log holds events (a ledger from before the "
        "log); its next write builds it")),
    "CHECKPOINT_SIGNATURE_INVALID": (Severity.ERROR, Message(
        "a checkpoint is not validly signed by the ledger's log key for its origin")),
    "CHECKPOINT_INCONSISTENT": (Severity.ERROR, Message(
        "two signed checkpoints cannot both describe one append-only log: it forked")),
    "EVENT_MISSING": (Severity.ERROR, Message("a receipted event is not in the log at its index")),
    "RECORDED_AT_OUTSIDE_WITNESS_WINDOW": (Severity.ERROR, Message(
        "recorded_at lies outside the witness-cosigned checkpoints around the event")),
    "INCLUSION_PROOF_INVALID": (Severity.ERROR, Message(
        "an event's inclusion proof does not lead to its checkpoint's root (verify-bundle)")),
    "AUTHORITY_UNTRUSTED": (Severity.ERROR, Message(
        "the genesis names an authority key other than the trusted one (verify-bundle --trust)")),
    "PROJECTION_MISMATCH": (Severity.ERROR, Message(
        "the stored view differs from one rebuilt from the events (verify --projections)")),
    "PROJECTION_BEHIND": (Severity.WARNING, Message(
        "the stored view lags the log (verify --projections)")),
}


@dataclass(frozen=True)
class Finding:
    """One thing a check found, with what a person needs to act on it."""

    code: str
    message: str
    position: int | None = None
    stream: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code}")

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    def at(self, position: int | None, stream: str | None) -> "Finding":
        """Return this finding placed at a log position and stream (a finding about another
        stream than the event's, such as the room a store left uncovered, keeps its own)."""
        return Finding(self.code, self.message, position, self.stream or stream, self.evidence)

    def to_data(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "position": self.position,
            "stream": self.stream,
            "message": self.message,
            "evidence": dict(self.evidence),
        }


@dataclass
class Report:
    """The outcome of a verification: counts of what was checked and every finding."""

    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    streams: int = 0
    signatures: int = 0
    # A resumed audit (verify --state): where it resumed from and how many new events it
    # checked; None for a full run.
    resumed: dict[str, int] | None = None

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def intact(self) -> bool:
        """True when no finding is an error (warnings, such as acknowledged violations, remain)."""
        return not self.errors

    def to_data(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events": self.events,
            "streams": self.streams,
            "signatures": self.signatures,
            "findings": [f.to_data() for f in self.findings],
            **({"resumed": dict(self.resumed)} if self.resumed is not None else {}),
        }
