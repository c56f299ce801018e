"""Asking witnesses over HTTP to cosign a new checkpoint (the client side of
c2sp.org/tlog-witness), so that checkpoints end up witnessed with no one carrying files.

For each witness URL (its submission prefix): ``POST <url>/add-checkpoint`` with the size
the witness is believed to have cosigned last, the consistency proof from it (read from the
stored tree) and the signed checkpoint. A 409 with ``text/x.tlog.size`` says the size the
witness really has: the request is made again from there (at most :data:`TRIES` times). A
200 carries cosignature lines: the ones by a witness this ledger trusts (an enrolled
inspector, or a witness its genesis named) are verified and stored with the checkpoint;
lines by unknown keys are ignored, as the spec says. Anything else — a refusal, a timeout, an
unreachable witness, a bad cosignature — is the witness's ``problem``, one line, and the
checkpoint stays stored as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ledger.application.log import TransparencyLog
from ledger.core.errors import InputError, KeyringError, LedgerError, VerificationFailed
from ledger.verify.log_keys import may_witness, open_log_checkpoint
from ledger.core.state import LedgerState
from ledger.core.text import Message
from ledger.network.client import TIMEOUT, Connection
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import Signature, parse_note
from ledger.tlog.witness import (
    MAX_CHECKPOINT_NOTE,
    SIZE_TYPE,
    AddCheckpoint,
    parse_cosignature_lines,
    parse_size,
    witness_verifier,
)

TRIES = 3  # requests per witness: a guess, the size a 409 gives, one more if it moved
GUESSES = 16  # the last stored checkpoints looked at for the size a witness cosigned


@dataclass(frozen=True)
class Asked:
    """What one witness did: the names whose cosignatures were stored, or the problem."""

    url: str
    witnesses: tuple[str, ...] = ()
    problem: str | None = None


def ask_witnesses(tlog: TransparencyLog, note: bytes, urls: Sequence[str],
                  timeout: float = TIMEOUT) -> list[Asked]:
    """Submit the stored checkpoint ``note`` to each witness at ``urls``; store every valid
    cosignature with it. Never raises for a witness's failure: see :class:`Asked`."""
    state = tlog.app.state(roster=True)[0]  # who may witness, with which key
    tlog.app.ledger(state)
    checkpoint = open_log_checkpoint(note, state)
    guess = _guess(tlog, checkpoint.size)
    answers = []
    for url in urls:
        try:
            lines = _submit(tlog, url, note, checkpoint, guess, timeout)
            names = _store(tlog, note, lines, state)
            answers.append(Asked(url, names) if names else Asked(url, problem=Message(
                "it answered with no cosignature by a witness this ledger trusts")))
        except LedgerError as exc:
            answers.append(Asked(url, problem=" ".join(str(exc).split())))
    return answers


def _guess(tlog: TransparencyLog, size: int) -> int:
    """The size a witness probably cosigned last: the largest of the last few stored
    checkpoints up to ``size`` that carries a cosignature (0 if none: a 409 corrects it)."""
    cosigned = [stored for _, stored, note in tlog.recorder.largest_checkpoints(GUESSES)
                if stored <= size and note.count("\n— ".encode()) > 1]
    return max(cosigned, default=0)


def _submit(tlog: TransparencyLog, url: str, note: bytes, checkpoint: Checkpoint,
            old: int, timeout: float) -> list[Signature]:
    connection = Connection(url, timeout)
    try:
        for _ in range(TRIES):
            proof = (merkle.prove_tree(checkpoint.size, old, tlog.read)
                     if 0 < old < checkpoint.size else [])
            answer = connection.request(
                "POST", "add-checkpoint", MAX_CHECKPOINT_NOTE,
                AddCheckpoint(old, tuple(proof), note).format())
            if answer.status == 200:
                return parse_cosignature_lines(answer.body)
            if answer.status == 409 and answer.content_type == SIZE_TYPE:
                size = parse_size(answer.body)
                if size > checkpoint.size:
                    raise VerificationFailed(
                        f"{url} has cosigned a tree of {size} events, larger than this log's "
                        f"{checkpoint.size}: the ledger was rolled back, or another copy of it "
                        "went on")
                if size == old:
                    break
                old = size
                continue
            reason = answer.body.decode("utf-8", "replace").strip().splitlines()
            raise InputError(f"{url} refused the checkpoint of {checkpoint.size} events "
                             f"({answer.status}{': ' + reason[0][:200] if reason else ''})")
        raise InputError(f"{url} kept answering 409: its state keeps moving; try again")
    finally:
        connection.close()


def _store(tlog: TransparencyLog, note: bytes, lines: list[Signature],
           state: LedgerState) -> tuple[str, ...]:
    """Verify the cosignature lines by witnesses this ledger trusts (ignoring unknown keys,
    refusing a bad signature by a known one) and store them with the checkpoint."""
    text = parse_note(note)[0]
    stored = parse_note(tlog.stored_version(note))[1]
    already = {(s.name, s.key_id) for s in stored}
    kept: list[Signature] = []
    names: set[str] = set()
    for sig in lines:
        member = state.witness(sig.name)
        if not may_witness(member):
            continue  # an unknown key: ignored (tlog-witness)
        assert member is not None
        verifier = witness_verifier(sig.name, member.public_key.raw)
        try:
            raw = sig.signature
        except InputError:
            raw = b""
        if sig.key_id != verifier.key_id or not verifier.verify(text.encode("utf-8"), raw):
            raise KeyringError(f"the cosignature by {sig.name} does not verify with "
                               f"{sig.name}'s key in the ledger")
        names.add(sig.name)
        if (sig.name, sig.key_id) not in already:  # one cosignature per witness is enough
            kept.append(sig)
    if kept:
        tlog.add_cosignatures(note + "".join(s.line for s in kept).encode("utf-8"))
    return tuple(sorted(names))
