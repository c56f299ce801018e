"""What a verification worker sends back: a few packed bytes a row, not the prepared rows.

The main process already holds every row's stored bytes (it read them to hand them out).
So for a step row the compiled stage accepted (``compiled_rows.compiled``), a worker returns
only what costs it work: the event hash, the signing digest and one verdict byte per signer
(0 not checked: no key in the keyring, or outside the auditor's scope; 1 valid; 2 invalid),
packed in four byte strings for the whole chunk. The main process decodes the accepted row's
body and signatures from its bytes again (``compiled_rows.decode_step``, no checks: the
worker made them) and rebuilds the very ``Prepared`` the worker had — its signature results
keyed by the (key, digest, signature) the keyring handed out gives — in a few microseconds,
where unpickling it cost ~35.

Every other row (an authority event, a damaged row) travels whole, as before, and so does a
chunk in which a row names a key: its later rows were checked with keys looked ahead to
(``rows.signature_tasks``), which the keyring alone does not give back.

Given the fold's trust state (``ledger.core.trust``), a worker also works out the part of each
step's judgement that reads only the row and that state (``trust.prejudge``), and sends it
packed as well: a byte a row (not judged; judged, every signer valid; judged, some not), for
the last kind a byte a signer in signer order (a valid signer or not), and the findings of
the few rows that have any. The main process needs a judged step's signature results only
if its trust state has moved on by the time it folds the step; otherwise ``unpack`` leaves
them out (``signature_results=False``).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections import deque
from typing import Any, Mapping, Optional, Sequence, Union

from ledger.core import keys
from ledger.core.findings import Finding
from ledger.core.rules import ALL_VALID
from ledger.core.trust import Prejudged, Trust, prejudge
from ledger.domain.compiled_rows import compiled, decode_step
from ledger.domain.stored import Prepared, Raw, prepare
from ledger.verify.rows import Scope, signature_tasks
from ledger.verify.spill import scratch_space

NOT_CHECKED, VALID, INVALID = 0, 1, 2
NOT_JUDGED, ALL_SIGNED, SOME_SIGNED = 0, 1, 2  # a step judged ahead: every signer valid, or not
# The steps judged ahead: (trust version, a byte a row, for each SOME_SIGNED row a byte a
# signer in signer order (1: a valid signer), {ordinal of a judged row: its findings} for
# those that have any)
Judged = Optional[tuple[int, bytes, bytes, dict[int, list[Finding]]]]
# (accepted: 1 a row, hashes, digests, verdicts, the rows that travel whole, the steps judged
# ahead), or every row whole
Packed = Union[tuple[bytes, bytes, bytes, bytes, list[Prepared], Judged], list[Prepared]]


def prepare_packed(raws: Sequence[Raw], keyring: Mapping[str, bytes] | None,
                   scope: Scope = Scope(), trust: Trust | None = None) -> Packed:
    """Prepare a chunk of rows and verify their signatures against ``keyring`` (as
    ``rows.prepare_chunk``), judge each step's trust-dependent part against ``trust`` if
    given, and pack the result (see the module docstring). With no keyring (None), no
    signature is checked: the view's fold takes them as valid, as the recorder checked them
    (``projections.projection``)."""
    rows: list[Prepared] = []
    accepted = bytearray()
    for row in raws:
        fast = compiled(row)
        accepted.append(fast is not None)
        rows.append(fast if fast is not None else prepare(row))
    if keyring is not None:
        pairs = list(signature_tasks([r[0] for r in raws], rows, keyring, scope))
        for (row, task), ok in zip(pairs, keys.verify_batch([task for _, task in pairs])):
            row.verified[task] = ok
    ahead = ([_prejudge(row_raw[0], row, trust, scope, keyring is not None)
              for row_raw, row in zip(raws, rows)] if trust is not None else [None] * len(rows))
    if keyring is not None and any(row.names_key for row in rows):
        return [row._replace(prejudged=judged) for row, judged in zip(rows, ahead)]
    keyring = keyring or {}
    hashes, signing, verdicts = bytearray(), bytearray(), bytearray()
    judged_rows, valid, found = bytearray(), bytearray(), {}
    whole = []
    for row, fast, judged in zip(rows, accepted, ahead):
        if not fast:
            whole.append(row._replace(prejudged=judged))
            continue
        hashes += row.event_hash
        assert row.digest is not None and row.signatures is not None
        signing += row.digest
        for person, signature in row.signatures.items():
            key = keyring.get(person)
            ok = None if key is None else row.verified.get((key, row.digest, signature))
            verdicts.append(NOT_CHECKED if ok is None else VALID if ok else INVALID)
        if judged is None:
            judged_rows.append(NOT_JUDGED)
        elif len(judged.signers) == len(row.signatures):
            judged_rows.append(ALL_SIGNED)  # the usual case: every signature counts
        else:
            judged_rows.append(SOME_SIGNED)
            valid += bytes(person in judged.signers for person in sorted(row.signatures))
        if judged is not None and judged.findings:
            found[len(judged_rows) - 1] = judged.findings
    judgement = (None if trust is None
                 else (trust.version, bytes(judged_rows), bytes(valid), found))
    return bytes(accepted), bytes(hashes), bytes(signing), bytes(verdicts), whole, judgement


def _prejudge(position: int, row: Prepared, trust: Trust, scope: Scope,
              checking: bool) -> Prejudged | None:
    """``trust.prejudge`` of a decoded row, with the signature results the fold will judge
    it with: those checked here, or none at all where the fold takes signatures as valid
    (the view, and rows outside the auditor's scope)."""
    body = row.body
    if body is None or row.problem is not None:
        return None
    assert row.signatures is not None and row.digest is not None
    checked = checking and scope.checks_signatures(position, body["stream"], body["type"])
    return prejudge(body, row.signatures, row.digest, row.recorded_at or "", trust,
                    row.verified if checked else ALL_VALID)


_held: tuple[str, Any] | None = None  # the file this worker read last, and what it holds


def prepare_packed_with(raws: Sequence[Raw], handed_file: str, scope: Scope = Scope()
                        ) -> Packed:
    """``prepare_packed`` with the keyring and trust state read from the file
    ``HandedFiles`` wrote: each worker reads them once, when they change, instead of
    unpickling them with every chunk (a province's 12,000 people are megabytes, four times
    a page)."""
    global _held
    if _held is None or _held[0] != handed_file:
        with open(handed_file, "rb") as handle:
            _held = (handed_file, pickle.loads(handle.read()))
    keyring, trust = _held[1]
    return prepare_packed(raws, keyring, scope, trust)


class HandedFiles:
    """What the workers judge rows against — the keyring (None: no signature checked) and
    the fold's trust state — each pair written once to a private temporary directory
    (removed by :meth:`close`), the last ``keep`` of them kept: a chunk in flight names the
    file of what its page was handed out with."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._dir: str | None = None
        self._files: deque[tuple[Mapping[str, bytes] | None, Trust | None, str]] = deque()
        self._written = 0

    def file_for(self, keyring: Mapping[str, bytes] | None, trust: Trust | None) -> str:
        """The file holding ``keyring`` and ``trust`` (each the same object until the roster
        or the trust state changes)."""
        if self._files and self._files[-1][0] is keyring and self._files[-1][1] is trust:
            return self._files[-1][2]
        with scratch_space():
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="custody-handed-")
            self._written += 1
            path = os.path.join(self._dir, f"handed-{self._written}")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
                handle.write(pickle.dumps((None if keyring is None else dict(keyring), trust),
                                          protocol=pickle.HIGHEST_PROTOCOL))
        self._files.append((keyring, trust, path))
        while len(self._files) > self._keep:
            os.unlink(self._files.popleft()[2])
        return path

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._files.clear()


def unpack(raws: Sequence[Raw], packed: Packed, keyring: Mapping[str, bytes],
           signature_results: bool = True) -> list[Prepared]:
    """The rows ``prepare_packed(raws, keyring, ...)`` prepared, rebuilt in this process;
    with ``signature_results`` False, a step judged ahead without its signature results (a
    fold that takes its judgement does not read them)."""
    if isinstance(packed, list):
        return packed
    accepted, hashes, signing, verdicts, whole, judgement = packed
    version, judged_rows, valid, found = judgement or (0, b"", b"", {})
    out: list[Prepared] = []
    at = verdict = ordinal = signer = 0
    rest = iter(whole)
    for row, fast in zip(raws, accepted):
        if not fast:
            out.append(next(rest))
            continue
        body, signatures, recorded_at = decode_step(row[4])
        digest = signing[at:at + 32]
        verified = {}
        judged = None
        if judgement is not None and judged_rows[ordinal] != NOT_JUDGED:
            signers = sorted(signatures)
            if judged_rows[ordinal] == SOME_SIGNED:
                flags = valid[signer:signer + len(signers)]
                signer += len(signers)
                signers = [person for person, ok in zip(signers, flags) if ok]
            judged = Prejudged(version, tuple(signers), found.get(ordinal, []))
        if judged is None or signature_results:
            for person, signature, code in zip(signatures, signatures.values(),
                                               verdicts[verdict:verdict + len(signatures)]):
                if code != NOT_CHECKED:
                    verified[(keyring[person], digest, signature)] = code == VALID
        verdict += len(signatures)
        ordinal += 1
        out.append(Prepared(hashes[at:at + 32], verified, body, signatures, digest,
                            (body["stream"], body["seq"]), recorded_at, None, judged))
        at += 32
    return out
