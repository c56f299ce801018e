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
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from typing import Mapping, Sequence, Union

import msgpack

from ledger.core import keys
from ledger.domain.compiled_rows import compiled, decode_step
from ledger.domain.stored import Prepared, Raw, prepare
from ledger.verify.rows import Scope, signature_tasks
from ledger.verify.spill import scratch_space

NOT_CHECKED, VALID, INVALID = 0, 1, 2
# (accepted: 1 a row, hashes, digests, verdicts, the rows that travel whole), or every row whole
Packed = Union[tuple[bytes, bytes, bytes, bytes, list[Prepared]], list[Prepared]]


def prepare_packed(raws: Sequence[Raw], keyring: Mapping[str, bytes] | None,
                   scope: Scope = Scope()) -> Packed:
    """Prepare a chunk of rows and verify their signatures against ``keyring`` (as
    ``rows.prepare_chunk``), and pack the result (see the module docstring). With no keyring
    (None), no signature is checked: the view's fold takes them as valid, as the recorder
    checked them (``projections.projection``)."""
    rows: list[Prepared] = []
    accepted = bytearray()
    for row in raws:
        fast = compiled(row)
        accepted.append(fast is not None)
        rows.append(fast if fast is not None else prepare(row))
    if keyring is None:
        keyring = {}
    else:
        pairs = list(signature_tasks([r[0] for r in raws], rows, keyring, scope))
        for (row, task), ok in zip(pairs, keys.verify_batch([task for _, task in pairs])):
            row.verified[task] = ok
        if any(row.names_key for row in rows):
            return rows
    hashes, signing, verdicts = bytearray(), bytearray(), bytearray()
    whole = []
    for row, fast in zip(rows, accepted):
        if not fast:
            whole.append(row)
            continue
        hashes += row.event_hash
        assert row.digest is not None and row.signatures is not None
        signing += row.digest
        for person, signature in row.signatures.items():
            key = keyring.get(person)
            ok = None if key is None else row.verified.get((key, row.digest, signature))
            verdicts.append(NOT_CHECKED if ok is None else VALID if ok else INVALID)
    return bytes(accepted), bytes(hashes), bytes(signing), bytes(verdicts), whole


_held: tuple[str, dict[str, bytes]] | None = None  # the keyring file this worker read last


def prepare_packed_with(raws: Sequence[Raw], keyring_file: str, scope: Scope = Scope()
                        ) -> Packed:
    """``prepare_packed`` with the keyring read from the file ``KeyringFiles`` wrote: each
    worker reads a keyring once, when it changes, instead of unpickling it with every chunk
    (a province's 12,000 keys are half a megabyte, four times a page)."""
    global _held
    if _held is None or _held[0] != keyring_file:
        with open(keyring_file, "rb") as handle:
            _held = (keyring_file, msgpack.unpackb(handle.read(), raw=False))
    return prepare_packed(raws, _held[1], scope)


class KeyringFiles:
    """The keyrings the workers check signatures against, each written once to a private
    temporary directory (removed by :meth:`close`), the last ``keep`` of them kept: a chunk
    in flight names the file of the keyring its page was handed out with."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._dir: str | None = None
        self._files: deque[tuple[Mapping[str, bytes], str]] = deque()
        self._written = 0

    def file_for(self, keyring: Mapping[str, bytes]) -> str:
        """The file holding ``keyring`` (the same object until the roster changes)."""
        if self._files and self._files[-1][0] is keyring:
            return self._files[-1][1]
        with scratch_space():
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="custody-keyrings-")
            self._written += 1
            path = os.path.join(self._dir, f"keyring-{self._written}")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
                handle.write(msgpack.packb(dict(keyring), use_bin_type=True))
        self._files.append((keyring, path))
        while len(self._files) > self._keep:
            os.unlink(self._files.popleft()[1])
        return path

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._files.clear()


def unpack(raws: Sequence[Raw], packed: Packed, keyring: Mapping[str, bytes]
           ) -> list[Prepared]:
    """The rows ``prepare_packed(raws, keyring, ...)`` prepared, rebuilt in this process."""
    if isinstance(packed, list):
        return packed
    accepted, hashes, signing, verdicts, whole = packed
    out: list[Prepared] = []
    at = verdict = 0
    rest = iter(whole)
    for row, fast in zip(raws, accepted):
        if not fast:
            out.append(next(rest))
            continue
        body, signatures, recorded_at = decode_step(row[4])
        digest = signing[at:at + 32]
        verified = {}
        for person, signature in signatures.items():
            code = verdicts[verdict]
            verdict += 1
            if code != NOT_CHECKED:
                verified[(keyring[person], digest, signature)] = code == VALID
        out.append(Prepared(hashes[at:at + 32], verified, body, signatures, digest,
                            (body["stream"], body["seq"]), recorded_at))
        at += 32
    return out
