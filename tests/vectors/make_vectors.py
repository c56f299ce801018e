"""Write tests/vectors/vectors.json from fixed inputs.

Run only to ADD vectors (``python -m tests.vectors.make_vectors``); a change to an existing
vector is a change to the ledger's format and breaks every ledger ever written.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from ledger.core import canonical, digests
from ledger.core.keys import SigningKey

HERE = Path(__file__).parent

VALUES = {
    "empty map": {},
    "small ints": [0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129],
    "big ints": [2**32, 2**63 - 1, 2**64 - 1, -(2**63)],
    "sorted keys by utf-8 bytes": {"b": 1, "a": 2, "aa": 3, "B": 4, "é": 5, "z": 6},
    "strings": ["", "a", "x" * 31, "x" * 32, "y" * 256, "试卷保密室"],
    "bytes": [b"", b"\x00\xff", b"z" * 300],
    "nested": {"list": [None, True, False, {"k": [1, [2, [3]]]}]},
    "timestamp": datetime(2026, 6, 7, 0, 30, 0, 123456, tzinfo=timezone.utc),
}

BODY = {
    "ledger": "vector-ledger", "stream": "lot:MATH-01", "seq": 2, "type": "lot.handed_over",
    "schema": 1, "occurred_at": "2026-06-07T00:30:00.000000Z",
    "prev": "00" * 32, "from": "STF-01", "to": "STF-02", "location": "Secure room 1",
    "seals_checked": ["SEAL-1", "SEAL-2"], "count_checked": 30,
    "attendees": [{"person": "POL-01", "role": "police"}, {"person": "STF-01", "role": "staff"}],
    "policy": {"id": "two-police-four-staff", "version": 1},
}


def to_json(value):
    """Tag non-JSON values so the vectors file can hold them."""
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, datetime):
        return {"$datetime": canonical.format_timestamp(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def seed(name: str) -> bytes:
    return hashlib.sha256(b"custody-vector:" + name.encode()).digest()


def main() -> None:
    signers = {}
    digest = digests.signing_digest(BODY)
    for person in ("POL-01", "STF-01"):
        key = SigningKey.from_seed(seed(person))
        signers[person] = {"seed": seed(person).hex(), "public_key": key.public_key.hex,
                           "key_id": key.public_key.id, "signature": key.sign(digest).hex()}
    signatures = {p: bytes.fromhex(s["signature"]) for p, s in signers.items()}
    recorded_at = datetime(2026, 6, 7, 0, 30, 5, tzinfo=timezone.utc)
    record = {"body": BODY, "signatures": signatures, "timestamp": recorded_at}
    vectors = {
        "canonical": [{"name": n, "value": to_json(v), "hex": canonical.encode(v).hex()}
                      for n, v in VALUES.items()],
        "event": {
            "body": BODY,
            "body_hex": canonical.encode(BODY).hex(),
            "signing_digest": digest.hex(),
            "signers": signers,
            "recorded_at": canonical.format_timestamp(recorded_at),
            "stored_hex": canonical.encode(record).hex(),
            "event_hash": digests.event_hash(record).hex(),
        },
        "genesis_prev": [
            {"ledger": "vector-ledger", "stream": s, "prev": digests.genesis_prev("vector-ledger", s)}
            for s in ("ledger", "lot:MATH-01", "person:POL-01")
        ],
    }
    (HERE / "vectors.json").write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
