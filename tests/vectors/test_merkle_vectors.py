"""transparency-dev/merkle's published proof probes, each judged by our checker.

Source, commit and licence: tests/vectors/merkle/README.md.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger.core.errors import VerificationFailed
from ledger.tlog.merkle import check_record, check_tree

ROOT = Path(__file__).parent / "merkle"


def probes(kind: str) -> list[tuple[str, dict]]:
    files = sorted((ROOT / kind).rglob("*.json"))
    return [(str(f.relative_to(ROOT / kind)), json.loads(f.read_text())) for f in files]


def b64(value: str) -> bytes:
    # Go's encoding/json writes []byte as standard base64.
    return base64.b64decode(value, validate=True)


INCLUSION = probes("inclusion")
CONSISTENCY = probes("consistency")


def test_every_upstream_probe_is_present():
    # The README promises the directories were copied whole; a lost file would hide a case.
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98
    assert sum(not p["wantErr"] for _, p in INCLUSION) == 6
    assert sum(not p["wantErr"] for _, p in CONSISTENCY) == 6


@pytest.mark.parametrize(("name", "probe"), INCLUSION, ids=[n for n, _ in INCLUSION])
def test_inclusion_probe_verdict_matches_upstream(name, probe):
    proof = [b64(h) for h in probe["proof"] or []]
    args = (proof, probe["treeSize"], b64(probe["root"]), probe["leafIdx"], b64(probe["leafHash"]))
    if probe["wantErr"]:
        with pytest.raises(VerificationFailed):
            check_record(*args)
    else:
        check_record(*args)


@pytest.mark.parametrize(("name", "probe"), CONSISTENCY, ids=[n for n, _ in CONSISTENCY])
def test_consistency_probe_verdict_matches_upstream(name, probe):
    proof = [b64(h) for h in probe["proof"] or []]
    args = (proof, probe["size2"], b64(probe["root2"]), probe["size1"], b64(probe["root1"]))
    if probe["wantErr"]:
        with pytest.raises(VerificationFailed):
            check_tree(*args)
    else:
        check_tree(*args)
