"""The verifier's stateless stage: all that can be learnt of one stored row on its own.

Decoding the stored row (``ledger.domain.stored.prepare``: canonical bytes, event hash,
schema, the library's columns tied to the body, signing digest) and verifying the signatures
against a keyring: none of it needs any other row, so it runs in the
worker processes, a chunk of rows at a time, while the main process judges earlier pages in
log order (``verifier.py``).

A signature result is kept under the exact (public key, digest, signature) triple it was
computed for. The keyring a chunk is checked against may be stale (a key enrolled or rotated
after it was taken): then there is no result for the key the roster names, and the main
process has that signature checked before judging (in the pool, or by the judge itself). So a
stale keyring costs time, never correctness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Optional, Sequence

from ledger.core import keys
from ledger.core.kinds import TRUST_EVENTS
from ledger.core.roster import keys_named
from ledger.domain import compiled_rows
from ledger.domain.stored import (  # noqa: F401 - the row stage, re-exported for the verifier
    KEY_EVENTS,
    Prepared,
    Raw,
    Task,
    prepare,
    raw,
)


@dataclass(frozen=True)
class Scope:
    """Which rows' signatures are worth checking: the auditor's --lot and --since."""

    only_streams: Optional[frozenset[str]] = None  # a lot and its containers; other lots skipped
    since: int = 1  # before this position only roster and authority signatures count

    def wanted(self, stream: str) -> bool:
        return (self.only_streams is None or not stream.startswith("lot:")
                or stream in self.only_streams)

    def checks_signatures(self, position: int, stream: str, event_type: str) -> bool:
        if not self.wanted(stream):
            return False
        return position >= self.since or event_type in TRUST_EVENTS


def prepare_chunk(raws: Sequence[Raw], keyring: Mapping[str, bytes],
                  scope: Scope = Scope()) -> list[Prepared]:
    """Prepare each row and verify its signatures against ``keyring`` (person id -> raw key)."""
    rows = [compiled_rows.prepare(row_raw) for row_raw in raws]
    pairs = list(signature_tasks([r[0] for r in raws], rows, keyring, scope))
    for (row, task), ok in zip(pairs, keys.verify_batch([task for _, task in pairs])):
        row.verified[task] = ok
    return rows


def signature_tasks(positions: Sequence[int], rows: Sequence[Prepared],
                    keyring: Mapping[str, bytes], scope: Scope
                    ) -> Iterator[tuple[Prepared, Task]]:
    """Every (row, signature task) worth checking, with the key ``keyring`` holds for its signer.

    Keys a genesis, enrolment or rotation earlier in ``rows`` names are looked ahead to."""
    ahead: dict[str, bytes] | None = None
    for position, row in zip(positions, rows):
        body = row.body
        if body is None or not scope.checks_signatures(position, body["stream"], body["type"]):
            continue
        named = keys_named(body)
        if named:
            ahead = dict(keyring) if ahead is None else ahead
            ahead.update(named)
        ring = keyring if ahead is None else ahead
        assert row.signatures is not None and row.digest is not None
        for person_id, signature in row.signatures.items():
            key = ring.get(person_id)
            if key is not None:
                yield row, (key, row.digest, signature)
