"""A stored row of the library's events table, decoded as far as it goes on its own.

``prepare`` decodes the stored bytes canonically, recomputes the event hash, checks the body
against its schema, ties the library's columns (stream id, version, topic, originator topic)
to the signed body and computes the signing digest. It needs no other row and no state, so
the recorder (folding the streams a judgement reads), the verifier's worker processes and
the projection all read stored rows through it, and all see the same thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Optional

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from ledger.core import canonical, digests, keys
from ledger.core.errors import NonCanonical
from ledger.core.findings import Finding
from ledger.core.kinds import KEY_EVENTS
from ledger.core.roster import keys_named, witnesses_named
from ledger.core.text import Message
from ledger.domain import events
from ledger.domain.aggregates import AGGREGATE_FOR_START, stream_problem
from ledger.domain.schemas import body_problems

if TYPE_CHECKING:
    from ledger.core.trust import Prejudged

STORED_KEYS = frozenset({"body", "signatures", "timestamp"})
START_TOPICS = {
    t: get_topic(AGGREGATE_FOR_START[cls]) for t, cls in events.EVENT_CLASSES.items()
    if cls in AGGREGATE_FOR_START
}
Task = tuple[bytes, bytes, bytes]  # (public key raw, signing digest, signature)
# A stored row as the library's notification log holds it: position, stream id, version,
# topic, stored bytes. Plain values, so a chunk of them pickles cheaply to a worker.
Raw = tuple[int, Any, Any, Any, Any]


class Prepared(NamedTuple):
    """One stored row, decoded as far as it would go, with its signature results.

    A named tuple, not a dataclass: a worker sends back 2,000 a page, and a dataclass costs
    the main process ~35 µs a row to unpickle, a named tuple ~2."""

    event_hash: bytes
    verified: dict[Task, bool]  # filled by the worker, completed by the stale-key sweep
    body: Optional[dict[str, Any]] = None
    signatures: Optional[dict[str, bytes]] = None
    digest: Optional[bytes] = None
    claims: Optional[tuple[str, int]] = None  # (stream, step) a schema-valid body says it is
    recorded_at: Optional[str] = None
    problem: Optional[Finding] = None
    prejudged: Optional[Prejudged] = None  # worked out beside the decoding (``core.trust``)

    @property
    def names_key(self) -> bool:
        """Whether the row puts a key in the roster (a later row may be signed with it)."""
        return self.body is not None and self.body["type"] in KEY_EVENTS


def raw(note: Notification) -> Raw:
    return (note.id, note.originator_id, note.originator_version, note.topic, note.state)


def read_rows(recorder: Any, start: int | None, limit: int) -> list[Raw]:
    """Up to ``limit`` stored rows of ``recorder``'s log from position ``start`` on (None:
    from the lowest stored), in log order, as ``Raw`` tuples: from the ledger's recorders'
    ``select_rows`` (plain tuples, read at half the cost), or from the library's
    notifications for any other recorder."""
    select = getattr(recorder, "select_rows", None)
    if select is not None:
        return select(start, limit)  # type: ignore[no-any-return]
    return [raw(note) for note in recorder.select_notifications(start=start, limit=limit)]


def prepare(row_raw: Raw) -> Prepared:
    """Decode one stored row and check everything about it that needs no other row."""
    position, stream_id, version, topic, state = row_raw
    # NULL or text typed into the column has no bytes: it hashes as empty, fails decoding.
    stored = state if isinstance(state, (bytes, bytearray, memoryview)) else b""
    event_hash = digests.event_hash_of_bytes(bytes(stored))
    stream = str(stream_id)

    def refused(code: str, message: str, claims: tuple[str, int] | None = None,
                **evidence: Any) -> Prepared:
        return Prepared(event_hash, {}, claims=claims,
                        problem=Finding(code, message, evidence=evidence))

    try:
        record = canonical.decode(state)
    except NonCanonical as exc:
        return refused("NON_CANONICAL", Message(
            "stored bytes of {stream} step {version} are not canonical: {problem}",
            stream=stream, version=version, problem=str(exc)))
    if not isinstance(record, dict) or not (
        set(record) == STORED_KEYS or set(record) == STORED_KEYS | {"originator_topic"}
    ):
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        return refused("ENVELOPE_MISMATCH", Message(
            "stored record of {stream} has fields {found}, expected {expected}", stream=stream,
            found=found, expected=sorted(STORED_KEYS)), found=found)
    body, signatures = record["body"], record["signatures"]
    if not isinstance(body, dict) or not isinstance(signatures, dict) or not all(
        isinstance(k, str) and isinstance(v, bytes) for k, v in signatures.items()
    ):
        return refused("SCHEMA_VIOLATION", Message(
            "stored record of {stream} has a malformed body or signature map", stream=stream))
    problems = body_problems(body)
    if problems:
        code = "UNKNOWN_EVENT_TYPE" if problems[0].startswith("type:") else "SCHEMA_VIOLATION"
        return refused(code, Message("{stream} step {version}: {problem}", stream=stream,
                                     version=version, problem=problems[0]), problems=problems[:10])
    claims = (body["stream"], body["seq"])
    mismatch = _envelope_mismatch(stream, version, topic, body, record.get("originator_topic"))
    if mismatch:
        return refused("ENVELOPE_MISMATCH", Message("{stream} step {version}: {problem}",
                                                    stream=stream, version=version,
                                                    problem=mismatch), claims)
    for person_id, raw_key in [*keys_named(body), *witnesses_named(body)]:
        defect = keys.key_defect(raw_key)
        if defect is not None:
            # No recorder writes such a key (PublicKey refuses it), so the row is forged; it
            # is reported and never folded, so the key never reaches a roster or a keyring.
            return refused("KEY_INVALID", Message(
                "{stream} step {version} names for {person} public key {key}, which is "
                "refused: {defect}", stream=stream, version=version, person=person_id,
                key=digests.key_id(raw_key)[:16], defect=defect), claims, person=person_id,
                public_key=raw_key.hex(), key_id=digests.key_id(raw_key))
    recorded_at = record["timestamp"]
    if not isinstance(recorded_at, datetime):
        return refused("SCHEMA_VIOLATION", Message(
            "{stream} step {version}: the stored recorded_at is a {found}, not a timestamp",
            stream=stream, version=version, found=type(recorded_at).__name__), claims)
    return Prepared(
        event_hash, {}, body, signatures,
        digest=digests.signing_digest_of_bytes(canonical.repack(body)),  # decoded: canonical
        claims=claims,
        recorded_at=canonical.format_timestamp(recorded_at),
    )


def _envelope_mismatch(stream: str, version: Any, topic: Any, body: Mapping[str, Any],
                       origin: Any) -> str | None:
    """Say how the library's stored columns disagree with the signed body, or the body's
    stream with the id it carries (``stream_problem``), if they do."""
    if stream != body["stream"]:
        return f"stored under stream {stream}, body says {body['stream']}"
    if version != body["seq"]:
        return f"stored as version {version}, body says step {body['seq']}"
    expected_topic = events.TOPICS[body["type"]]
    if topic != expected_topic:
        return f"stored topic {topic} does not match event type {body['type']}"
    expected_origin = START_TOPICS.get(body["type"])
    if origin != expected_origin:
        return f"stored originator topic {origin!r}, expected {expected_origin!r}"
    return stream_problem(body)
