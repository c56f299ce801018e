"""Every implementation detail must reproduce the committed vectors byte for byte."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from ledger.core import canonical, digests, keys
from ledger.core.errors import VerificationFailed
from ledger.core.keys import PublicKey, SigningKey

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


def from_json(value):
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return bytes.fromhex(value["$bytes"])
    if isinstance(value, dict) and set(value) == {"$datetime"}:
        return canonical.parse_timestamp(value["$datetime"])
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("vector", VECTORS["canonical"], ids=lambda v: v["name"])
def test_canonical_encoding_matches_vector(vector):
    value = from_json(vector["value"])
    assert canonical.encode(value).hex() == vector["hex"]
    assert canonical.decode(bytes.fromhex(vector["hex"])) == value


def test_timestamp_vector_decodes_to_an_aware_utc_datetime():
    vector = next(v for v in VECTORS["canonical"] if v["name"] == "timestamp")
    decoded = canonical.decode(bytes.fromhex(vector["hex"]))
    assert isinstance(decoded, datetime) and decoded.utcoffset().total_seconds() == 0


def test_signing_digest_and_event_hash_match_vectors():
    event = VECTORS["event"]
    assert canonical.encode(event["body"]).hex() == event["body_hex"]
    assert digests.signing_digest(event["body"]).hex() == event["signing_digest"]
    signatures = {p: bytes.fromhex(s["signature"]) for p, s in event["signers"].items()}
    record = {"body": event["body"], "signatures": signatures,
              "timestamp": canonical.parse_timestamp(event["recorded_at"])}
    assert canonical.encode(record).hex() == event["stored_hex"]
    assert digests.event_hash(record).hex() == event["event_hash"]
    assert digests.event_hash_of_bytes(bytes.fromhex(event["stored_hex"])).hex() == event["event_hash"]


@pytest.mark.parametrize("person", sorted(VECTORS["event"]["signers"]))
def test_keys_and_signatures_match_vectors(person):
    signer = VECTORS["event"]["signers"][person]
    key = SigningKey.from_seed(bytes.fromhex(signer["seed"]))
    assert key.public_key.hex == signer["public_key"]
    assert key.public_key.id == signer["key_id"]
    digest = bytes.fromhex(VECTORS["event"]["signing_digest"])
    # Ed25519 is deterministic: the same key and message give the same signature.
    assert key.sign(digest).hex() == signer["signature"]
    keys.verify(PublicKey.from_hex(signer["public_key"]), digest, bytes.fromhex(signer["signature"]))


def test_vector_signature_does_not_verify_for_the_other_signer():
    signers = VECTORS["event"]["signers"]
    digest = bytes.fromhex(VECTORS["event"]["signing_digest"])
    with pytest.raises(VerificationFailed):
        keys.verify(PublicKey.from_hex(signers["POL-01"]["public_key"]), digest,
                    bytes.fromhex(signers["STF-01"]["signature"]))


@pytest.mark.parametrize("vector", VECTORS["genesis_prev"], ids=lambda v: v["stream"])
def test_genesis_prev_matches_vector(vector):
    assert digests.genesis_prev(vector["ledger"], vector["stream"]) == vector["prev"]
