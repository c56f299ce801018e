"""The row stage compiled: ``stored.prepare``'s verdict on a stored step row, decoded in C.

``prepare`` decodes a stored row with msgspec against typed Structs (the record, and the
body's ``structs.struct`` for its type), checks what the Structs cannot (unique arrays, NFC
text, sorted signers), then encodes the record and the body again and demands the stored
bytes back: msgspec, unlike the canonical decoder, accepts keys in any order, a key given
twice and non-minimal headers, so only the same bytes prove the row canonical. A row that
passes is exactly what ``stored.prepare`` would make of it; any other row — one that fails
anything here, an authority event, an unknown type — goes to ``stored.prepare`` itself, so
every finding and every message stays the reference path's. ``tests/unit/test_compiled_rows``
holds the two equal on whole ledgers and on thousands of damaged rows.
"""

from __future__ import annotations

from typing import Union

import msgspec
from msgspec import UNSET, Struct, UnsetType

from ledger.core import canonical, digests
from ledger.domain import structs
from ledger.domain.stored import Prepared, Raw, _envelope_mismatch
from ledger.domain.stored import prepare as reference

TIMESTAMP_EXT = canonical.TIMESTAMP_EXT


class StoredRecord(Struct, forbid_unknown_fields=True, kw_only=True):
    """What the library stores for an event, fields in canonical order; the body raw."""

    body: msgspec.Raw
    originator_topic: Union[str, UnsetType] = UNSET
    signatures: dict[str, bytes]
    timestamp: msgspec.msgpack.Ext


_record = msgspec.msgpack.Decoder(StoredRecord)
_plain = msgspec.msgpack.Decoder()
_encoder = msgspec.msgpack.Encoder()


def prepare(row: Raw) -> Prepared:
    """``stored.prepare(row)``, decoded in C when the row is a canonical step row."""
    return compiled(row) or reference(row)


def compiled(row: Raw) -> Prepared | None:
    """What ``stored.prepare`` makes of a canonical, schema-valid step row whose columns agree
    with its body; None for any other row (the reference path says what is wrong with it)."""
    position, stream_id, version, topic, state = row
    if type(state) is not bytes or len(state) > canonical.MAX_ENCODED:
        return None
    try:
        record = _record.decode(state)
        body_raw = bytes(record.body)
        event_type = structs.body_type(body_raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if event_type not in structs.STEPS or not structs.accepts(event_type, body_raw):
        return None
    signatures = record.signatures
    signers = list(signatures)
    stamp = record.timestamp
    if (signers != sorted(signers)
            or not all(s.isascii() for s in signers) or stamp.code != TIMESTAMP_EXT
            or _encoder.encode(record) != state):
        return None
    try:
        recorded_at = stamp.data.decode("ascii")
        canonical.parse_timestamp(recorded_at)  # the one fixed form, and a real moment
    except (UnicodeDecodeError, canonical.NonCanonical):
        return None
    body = _plain.decode(body_raw)
    origin = None if record.originator_topic is UNSET else record.originator_topic
    if _envelope_mismatch(str(stream_id), version, topic, body, origin) is not None:
        return None
    return Prepared(digests.event_hash_of_bytes(state), {}, body, dict(signatures),
                    digest=digests.signing_digest_of_bytes(body_raw),
                    claims=(body["stream"], body["seq"]), recorded_at=recorded_at)


def decode_step(state: bytes) -> tuple[dict, dict[str, bytes], str]:
    """The body, signatures and recorded_at of a stored row ``prepare`` has accepted (the main
    process rebuilds a worker's rows from their bytes with it, never re-checking them)."""
    record = _plain.decode(state)
    return record["body"], record["signatures"], record["timestamp"].data.decode("ascii")
