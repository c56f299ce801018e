"""A witness at an independent office (the discipline inspection office): what it remembers,
and the c2sp.org/tlog-witness ``add-checkpoint`` call — one rule, one state file format, for
``custody witness cosign`` (files carried by hand) and ``custody witness serve`` (HTTP).

- :class:`WitnessState`: a directory (0700) holding, per log origin, the signed checkpoint
  last cosigned (``<origin>.checkpoint``, 0600, written atomically and durably), and the
  evidence of every fork refused (``fork-<origin>-<old size>-<new size>.old.checkpoint`` and
  ``.new.checkpoint``). :meth:`WitnessState.update` checks a submission against the stored
  checkpoint (``ledger.tlog.witness.check_submission``) and saves the new one, under a lock
  held across threads and processes, so two submissions can never both advance from one size.
- :class:`Witness`: opens a submitted checkpoint with the log's key, updates the state, and
  only then cosigns it (c2sp.org/tlog-cosignature, the witness's id as key name, the time
  from its clock): a cosignature is never given for a checkpoint the state does not hold.
  :meth:`Witness.add_checkpoint` answers an HTTP request body with the spec's status codes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from ledger.core.canonical import ID
from ledger.core.errors import InputError, LedgerError, ResourceError, VerificationFailed
from ledger.core.keys import SigningKey
from ledger.storage.files import write_file
from ledger.tlog.checkpoint import Checkpoint, Cosigner, open_checkpoint
from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey, parse_note
from ledger.tlog.witness import (
    MAX_CHECKPOINT_NOTE,
    SIZE_TYPE,
    AddCheckpoint,
    Fork,
    InconsistentProof,
    StaleSize,
    check_submission,
    cosign,
    format_size,
)

LOCK_FILE = ".lock"
TEXT = "text/plain; charset=utf-8"


def state_name(origin: str) -> str:
    """The file stem for a log's origin: itself when it is a plain id, else a digest (the
    origin comes from an untrusted checkpoint: it never picks a path)."""
    if ID.fullmatch(origin):
        return origin
    return "origin-" + hashlib.sha256(origin.encode("utf-8")).hexdigest()[:32]


class WitnessState:
    """The last checkpoint cosigned per log, and the evidence of refused forks (see the
    module docstring). A monitor keeps the last checkpoint it checked the same way."""

    def __init__(self, directory: Path) -> None:
        if directory.exists() and not directory.is_dir():
            raise InputError(f"--state {directory} is not a directory")
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the state directory {directory}: "
                             f"{exc.strerror}") from None
        self.directory = directory
        self._threads = threading.Lock()

    def path(self, origin: str) -> Path:
        return self.directory / f"{state_name(origin)}.checkpoint"

    def latest(self, origin: str) -> tuple[Checkpoint, bytes] | None:
        """The checkpoint last cosigned for ``origin`` and its note as submitted, or None."""
        path = self.path(origin)
        try:
            with open(path, "rb") as handle:
                note = handle.read(MAX_CHECKPOINT_NOTE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ResourceError(f"cannot read the state {path}: {exc.strerror}") from None
        try:
            if len(note) > MAX_CHECKPOINT_NOTE:
                raise InputError(f"it is over {MAX_CHECKPOINT_NOTE} bytes")
            checkpoint = Checkpoint.parse(parse_note(note)[0])
            if checkpoint.origin != origin:
                raise InputError(f"it holds a checkpoint of {checkpoint.origin!r}")
        except InputError as exc:
            raise ResourceError(f"the state {path} is damaged ({exc}); restore it from "
                                "a backup: without it a fork cannot be told") from None
        return checkpoint, note

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # One submission at a time: threads of one server, and any other process (a server
        # and `witness cosign`) sharing the directory.
        with self._threads:
            try:
                fd = os.fdopen(os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT,
                                       0o600), "r+b")
            except OSError as exc:
                raise ResourceError(f"cannot lock the state {self.directory}: "
                                    f"{exc.strerror}") from None
            with fd:
                fcntl.flock(fd.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fd.fileno(), fcntl.LOCK_UN)

    def update(self, note: bytes, new: Checkpoint, old_size: int,
               proof: Sequence[bytes]) -> None:
        """Check a submission (``check_submission``) against the checkpoint last cosigned for
        ``new``'s origin and save ``note`` as the new one, atomically: the check and the save
        are one step under the lock. A :class:`Fork` (or :class:`InconsistentProof`) leaves
        the state as it was, with both checkpoints written beside it as evidence; the
        exception's ``evidence`` names them."""
        with self._locked():
            latest = self.latest(new.origin)
            stored, stored_note = latest if latest is not None else (None, None)
            try:
                check_submission(stored, new, old_size, proof)
            except Fork as exc:
                if stored is not None and stored_note is not None:
                    exc.evidence = self.keep_evidence(stored, stored_note, new, note)
                raise
            self.remember(new, note)

    def remember(self, checkpoint: Checkpoint, note: bytes) -> None:
        """Keep ``note`` as the last checkpoint of its origin (checked by the caller)."""
        self._write(self.path(checkpoint.origin), note)

    def keep_evidence(self, old: Checkpoint, old_note: bytes, new: Checkpoint,
                      new_note: bytes) -> Path:
        """Write two checkpoints that fork as ``fork-<origin>-<old>-<new>.old.checkpoint``
        and ``.new.checkpoint``; return the common stem."""
        stem = self.directory / f"fork-{state_name(new.origin)}-{old.size}-{new.size}"
        self._write(Path(f"{stem}.old.checkpoint"), old_note)
        self._write(Path(f"{stem}.new.checkpoint"), new_note)
        return stem

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            write_file(path, data, mode=0o600)
        except OSError as exc:
            raise ResourceError(f"cannot write {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes


class Witness:
    """A witness: its name (the key name it cosigns under) and key, the logs it follows
    (origin → the log's raw Ed25519 public key), its state and its clock."""

    def __init__(self, name: str, key: SigningKey, logs: Mapping[str, bytes],
                 state: WitnessState, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.key = key
        self.logs = dict(logs)
        self.state = state
        self.clock = clock

    def open(self, note: bytes) -> Checkpoint:
        """The checkpoint ``note`` holds, signed by the key of a log this witness follows.

        Raises :class:`UnknownLog` for an origin it does not follow, ``VerificationFailed``
        when the log's key did not sign it, ``InputError`` for a malformed note."""
        origin = Checkpoint.parse(parse_note(note)[0]).origin
        return open_checkpoint(note, origin, self._log(origin))[0]

    def _log(self, origin: str) -> Ed25519Verifier:
        key = self.logs.get(origin)
        if key is None:
            raise UnknownLog(f"this witness follows no log {origin!r}")
        return Ed25519Verifier(VerifierKey(origin, SIG_ED25519, key))

    def cosign(self, note: bytes, old_size: int, proof: Sequence[bytes]) -> tuple[Checkpoint,
                                                                                 bytes, bytes]:
        """Check and record ``note`` (:meth:`open`, then :meth:`WitnessState.update`), then
        cosign it: (the checkpoint, the note with the cosignature added — replacing an
        earlier one by this key —, the cosignature line alone)."""
        checkpoint = self.open(note)
        self.state.update(note, checkpoint, old_size, proof)
        cosigner = Cosigner(self.name, self.key, int(self.clock()))
        _, cosigned = cosign(note, self._log(checkpoint.origin), cosigner)
        own = next(s for s in parse_note(cosigned)[1]
                   if (s.name, s.key_id) == (cosigner.name, cosigner.key_id))
        return checkpoint, cosigned, own.line.encode("utf-8")

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer a ``POST <prefix>/add-checkpoint`` body as c2sp.org/tlog-witness says:
        200 with the cosignature line; 400 malformed; 403 not signed by the log's key; 404 a
        log this witness does not follow; 409 with the cosigned size (``text/x.tlog.size``)
        when the old size is stale, or as plain text for the same size with another root;
        422 a consistency proof that fails. The state is saved before a 200 is returned."""
        try:
            request = AddCheckpoint.parse(body)
            self.open(request.note)
        except UnknownLog as exc:
            return _text(404, str(exc))
        except VerificationFailed as exc:
            if isinstance(exc, InputError):  # NonCanonical: malformed, not unsigned
                return _text(400, str(exc))
            return _text(403, f"the checkpoint is not signed by the log's key: {exc}")
        except InputError as exc:
            return _text(400, str(exc))
        try:
            _, _, line = self.cosign(request.note, request.old_size, request.proof)
        except StaleSize as exc:
            return Answer(409, SIZE_TYPE, format_size(exc.size))
        except InconsistentProof as exc:
            return _text(422, str(exc))
        except Fork as exc:
            return _text(409, f"fork: {exc}")
        except VerificationFailed as exc:
            return _text(403, str(exc))
        except InputError as exc:
            return _text(400, str(exc))
        except LedgerError as exc:  # the witness's own trouble: its state cannot be kept
            return _text(500, f"the witness cannot keep its state: {exc}")
        return Answer(200, TEXT, line)


class UnknownLog(InputError):
    """A checkpoint of a log the witness does not follow (tlog-witness: 404)."""


def _text(status: int, message: str) -> Answer:
    return Answer(status, TEXT, (" ".join(message.split())[:500] + "\n").encode("utf-8"))
