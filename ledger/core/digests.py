"""The ledger's digests: SHA-256 over a domain-separation prefix and canonical bytes.

Each digest has its own prefix so that no byte string can be taken for another kind:

- ``signing_digest(body)``: what the people present sign — the whole event body, including
  ``occurred_at``, the policy and ``prev``, so a signature vouches for the lot's history.
- ``event_hash(record)``: everything stored — body, signatures and ``recorded_at``. The next
  event's ``prev`` commits to it, so no stored byte escapes the chain.
- ``genesis_prev(ledger_id, stream)``: the ``prev`` of a stream's first event.
- ``key_id(public_key_raw)``: the identity of a public key.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

from ledger.core import canonical

SIGNING_PREFIX = b"custody-ledger/v1/signing\x00"
EVENT_PREFIX = b"custody-ledger/v1/event\x00"
GENESIS_PREFIX = b"custody-ledger/v1/genesis\x00"


def signing_digest(body: Mapping[str, Any]) -> bytes:
    """Return the 32-byte digest every attendee signs for ``body``."""
    return signing_digest_of_bytes(canonical.encode(body))


def signing_digest_of_bytes(encoded_body: bytes) -> bytes:
    """Return the signing digest of a body given its canonical bytes."""
    return hashlib.sha256(SIGNING_PREFIX + encoded_body).digest()


def event_hash_of_bytes(stored: bytes) -> bytes:
    """Return the event hash of a stored record given its canonical bytes."""
    return hashlib.sha256(EVENT_PREFIX + stored).digest()


def event_hash(record: Mapping[str, Any]) -> bytes:
    """Return the 32-byte event hash of a stored record (body, signatures, recorded_at)."""
    return event_hash_of_bytes(canonical.encode(record))


def genesis_prev(ledger_id: str, stream: str) -> str:
    """Return the hex ``prev`` of the first event of ``stream`` in ledger ``ledger_id``."""
    # The canonical form of {"ledger": ..., "stream": ...}: already in key order, two strings,
    # so packed as it is (``canonical.repack``), as every new stream's first step asks.
    payload = canonical.repack({"ledger": ledger_id, "stream": stream})
    return hashlib.sha256(GENESIS_PREFIX + payload).hexdigest()


def next_prev(ledger_id: str, stream: str, head_hash: str | None) -> str:
    """The ``prev`` the next event of ``stream`` must name: the hash of the stream's last
    event (``head_hash``), or the stream's genesis value when it has none yet. The one rule
    the drafter, the recorder, the readers and the fold check a step's chain by."""
    return genesis_prev(ledger_id, stream) if head_hash is None else head_hash


def key_id(public_key_raw: bytes) -> str:
    """Return the hex key id of a raw 32-byte Ed25519 public key: its plain SHA-256."""
    return hashlib.sha256(public_key_raw).hexdigest()
