"""``custody log``, ``checkpoint``, ``prove``, ``check-receipt``: the transparency log's commands,
and the append hook that signs checkpoints (CUSTODY_LOG_KEY) and writes receipts (--receipt).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import click

from cli import render
from cli.context import authority_options, authority_signers, ledger_of, print_receipt
from cli.errors import EXIT_FINDINGS
from cli.options import (
    RECEIPT_KEY,
    occurred_at,
    prompt_passphrase,
    read_bounded,
    read_passphrase_file,
)
from ledger.application.custody import CustodyLedger, Receipt
from ledger.application.keystore import Signer, read_key_file, read_public_key
from ledger.application.log import TransparencyLog
from ledger.core.errors import InputError, LedgerError

LOG_KEY_ENV = "CUSTODY_LOG_KEY"
LOG_PASSPHRASE_ENV = "CUSTODY_LOG_KEY_PASSPHRASE_FILE"
SIGNER_KEY = "custody.log_signer"
MAX_RECEIPT = 64 * 1024


def unlock_log_key(path: Path, passphrase_file: Path | None) -> Signer:
    """Unlock a log key file: passphrase from ``passphrase_file``, else prompted hidden."""
    keyfile = read_key_file(path)
    passphrase = None
    if keyfile.encrypted:
        passphrase = (read_passphrase_file(passphrase_file) if passphrase_file
                      else prompt_passphrase(f"Passphrase for log key {path}"))
    return keyfile.unlock(passphrase)


def install_append_hook(ctx: click.Context, app: CustodyLedger) -> None:
    """Before a writing command judges anything: unlock CUSTODY_LOG_KEY (a wrong passphrase
    stops the command before anything is written), and have every append sign a checkpoint
    with it and write the --receipt file."""
    path = os.environ.get(LOG_KEY_ENV)
    if path and SIGNER_KEY not in ctx.meta:
        phrase = os.environ.get(LOG_PASSPHRASE_ENV)
        ctx.meta[SIGNER_KEY] = unlock_log_key(Path(path), Path(phrase) if phrase else None)
    app.after_append = lambda ledger, receipts: after_append(ctx, ledger, receipts)


def after_append(ctx: click.Context, app: CustodyLedger, receipts: list[Receipt]) -> None:
    """The events are committed: what goes wrong here is a warning, never an error."""
    tlog = TransparencyLog(app)
    signer: Signer | None = ctx.meta.get(SIGNER_KEY)
    note = None
    if signer is not None:
        try:
            note = tlog.sign_checkpoint(signer)
        except LedgerError as exc:
            if receipts[-1].event_type not in ("ledger.genesis",):
                _warn(f"no checkpoint signed with {LOG_KEY_ENV}: {exc}")
    target: Path | None = ctx.meta.get(RECEIPT_KEY)
    if target is None:
        return
    for number, receipt in enumerate(receipts, start=1):
        path = target if number == 1 else Path(f"{target}.{number}")
        try:
            write_receipt(tlog, receipt.position or 0, path, note)
            click.echo(render.visible(f"receipt {path}"))
        except LedgerError as exc:
            _warn(f"no receipt written to {path}: {exc}")


def write_receipt(tlog: TransparencyLog, position: int, path: Path,
                  note: bytes | None = None) -> None:
    """Write the tlog-proof of the event at ``position`` under a checkpoint that covers it."""
    state = tlog.log_state()
    leaf = tlog.leaf_of(position)
    if note is None or int(note.split(b"\n", 2)[1]) <= leaf:
        note = tlog.checkpoint_covering(leaf + 1, state)
    if note is None:
        raise InputError(f"no checkpoint covers position {position} yet; sign one with "
                         "'custody checkpoint --key LOG.key' (or set CUSTODY_LOG_KEY), then "
                         f"'custody prove {position} --receipt FILE'")
    data = tlog.tlog_proof(position, note)
    if path.exists():
        raise InputError(f"{path} already exists; choose another receipt file")
    write_new_file(path, data, "receipt file")


def write_new_file(path: Path, data: bytes, what: str) -> None:
    """Put ``data`` at ``path``, which must not exist, whole or not at all, and durably.

    The bytes go to a temporary file beside it, are fsynced, and are then linked in under
    the name (a link never replaces an existing file): a process killed midway leaves no
    half-written ``path``, and once this returns the file survives a crash, as the step
    whose receipt it is does. A file system that cannot link gets a rename instead."""
    folder = path.parent
    temporary = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise InputError(f"{path} already exists; choose another {what}") from None
            except OSError:
                if path.exists():
                    raise InputError(f"{path} already exists; choose another {what}") from None
                os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}; check that the "
                         "folder exists and is writable, or choose another path") from None


def _warn(text: str) -> None:
    click.echo("warning: " + render.visible(text), err=True)


def register(main: click.Group) -> None:
    """Add the log's commands to ``main``."""

    @main.group("log")
    def log_group() -> None:
        """The transparency log: name its checkpoint-signing key."""

    @log_group.command("enable", epilog="""\b
Example:
  custody keys new gd-gaokao-2026 --out log.key     # a log key, named after the ledger
  custody log enable --log-key log.key.pub --authority-key auth.key""")
    @click.option("--log-key", "log_key_file", required=True,
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="The log key's public key file (LOG.key.pub).")
    @authority_options
    @click.pass_context
    def log_enable(ctx: click.Context, log_key_file: Path, authority_keys: Sequence[Path],
                   passphrase_files: Sequence[Path], when: str | None) -> None:
        """Name the Ed25519 key that signs the log's checkpoints (authority-signed event)."""
        app = ledger_of(ctx)
        view = app.ledger()
        public_key = read_public_key(log_key_file)[0]
        signer = authority_signers(authority_keys, passphrase_files)
        print_receipt(app.set_log_key(public_key, signer, occurred_at(when, app.clock)))
        click.echo(render.visible(f"log key {public_key.id[:16]} of ledger {view.ledger_id} "
                                  "is named; sign checkpoints with 'custody checkpoint --key'"))

    @main.command("checkpoint", epilog="""\b
Examples:
  custody checkpoint --key log.key > checkpoint.txt
  custody checkpoint --verifier-key""")
    @click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
                  help="The log's private key file.")
    @click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Passphrase of the log key, for scripts (default: prompt).")
    @click.option("--verifier-key", is_flag=True,
                  help="Print the log's note verifier key (name+keyhash+base64) instead.")
    @click.pass_context
    def checkpoint(ctx: click.Context, key_file: Path | None, passphrase_file: Path | None,
                   verifier_key: bool) -> None:
        """Sign the tree head as a C2SP checkpoint, store it and print it."""
        if verifier_key == (key_file is not None):
            raise InputError("give either --key LOG.key (sign a checkpoint) or --verifier-key")
        if verifier_key:
            tlog = TransparencyLog(ledger_of(ctx, read_only=True))
            click.echo(tlog.verifier_key())
            return
        assert key_file is not None
        signer = unlock_log_key(key_file, passphrase_file)
        tlog = TransparencyLog(ledger_of(ctx))
        click.echo(tlog.sign_checkpoint(signer).decode("utf-8"), nl=False)

    @main.command("prove", epilog="""\b
Examples:
  custody prove 42 --json
  custody prove 42 --receipt event42.proof
  custody prove --consistency 100 250 --json""")
    @click.argument("sizes", nargs=-1, type=click.IntRange(0), metavar="POSITION | OLD [NEW]")
    @click.option("--consistency", is_flag=True,
                  help="Prove that the tree of NEW events (default: now) extends that of OLD.")
    @click.option("--json", "as_json", is_flag=True,
                  help="Print as JSON (schemas/inclusion-proof.schema.json, "
                       "schemas/consistency-proof.schema.json).")
    @click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Also write the event's receipt (c2sp.org/tlog-proof) to this file.")
    @click.pass_context
    def prove(ctx: click.Context, sizes: Sequence[int], consistency: bool, as_json: bool,
              receipt_file: Path | None) -> None:
        """Print an inclusion proof of the event at POSITION, or a consistency proof."""
        tlog = TransparencyLog(ledger_of(ctx, read_only=True))
        tlog.require_tree()
        if consistency:
            if not 1 <= len(sizes) <= 2 or receipt_file is not None:
                raise InputError("prove --consistency takes OLD [NEW] tree sizes (no --receipt)")
            data = tlog.consistency(sizes[0], sizes[1] if len(sizes) == 2 else None)
            if as_json:
                click.echo(render.json_text(data))
                return
            click.echo(f"tree {data['old_size']} root {data['old_root']}")
            click.echo(f"tree {data['new_size']} root {data['new_root']}")
            for h in data["proof"]:
                click.echo(h)
            return
        if len(sizes) != 1:
            raise InputError("prove takes one POSITION (or --consistency OLD [NEW])")
        state = tlog.log_state()
        position = sizes[0]
        leaf = tlog.leaf_of(position)
        note = tlog.checkpoint_covering(leaf + 1, state)
        if note is not None:
            size = int(note.split(b"\n", 2)[1])
            inclusion = tlog.inclusion(position, size, note)
        else:
            inclusion = tlog.inclusion(position)
        if receipt_file is not None:
            write_receipt(tlog, position, receipt_file, note)
        if as_json:
            click.echo(render.json_text(inclusion.to_data()))
        else:
            click.echo(f"position {position} is leaf {inclusion.index} of the tree of "
                       f"{inclusion.tree_size}")
            click.echo(f"event hash {inclusion.event_hash.hex()}")
            click.echo(f"root {inclusion.root.hex()}")
            for h in inclusion.proof:
                click.echo(h.hex())
            if note is None:
                click.echo("no stored checkpoint covers it yet ('custody checkpoint --key')")
        if receipt_file is not None:
            click.echo(render.visible(f"receipt {receipt_file}"))


    @main.command("check-receipt", epilog="""\b
Examples:
  custody check-receipt handover.proof --log-key log.key.pub     # offline
  custody --db custody.db check-receipt handover.proof           # and still in the ledger?
  custody check-receipt handover.proof --json""")
    @click.argument("receipts", nargs=-1, required=True,
                    type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @click.option("--log-key", "log_key_file", type=click.Path(dir_okay=False, path_type=Path),
                  help="The log's public key file; without it the ledger's own log keys are "
                       "used (--db).")
    @click.option("--json", "as_json", is_flag=True,
                  help="Print as JSON (schemas/check-receipt.schema.json).")
    @click.pass_context
    def check_receipt(ctx: click.Context, receipts: Sequence[Path],
                      log_key_file: Path | None, as_json: bool) -> None:
        """Verify receipts (c2sp.org/tlog-proof); with the ledger, also that each receipted
        event is still there at its index (else EVENT_MISSING, exit 1)."""
        from ledger.tlog.checkpoint import TlogProof, open_proof
        from ledger.tlog.merkle import leaf_hash
        from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey, parse_note
        from ledger.tlog.checkpoint import Checkpoint
        from ledger.core.log_keys import log_verifiers

        use_db = log_key_file is None or ctx.obj.get("db") is not None
        tlog = TransparencyLog(ledger_of(ctx, read_only=True)) if use_db else None
        state = tlog.log_state() if tlog is not None else None
        missing = 0
        checked: list[dict] = []  # each receipt, for --json
        for path in receipts:
            data = read_receipt(path)
            proof = TlogProof.parse(data)
            if proof.extra is None or len(proof.extra) != 32:
                raise InputError(f"receipt {path} carries no 32-byte event hash")
            origin = Checkpoint.parse(parse_note(proof.checkpoint)[0]).origin
            verifiers = ([Ed25519Verifier(VerifierKey(origin, SIG_ED25519,
                                                      read_public_key(log_key_file)[0].raw))]
                         if log_key_file is not None else log_verifiers(state))  # type: ignore[arg-type]
            if not verifiers:
                raise InputError("the ledger names no log key: give --log-key LOG.pub")
            error: LedgerError | None = None
            for verifier in verifiers:
                try:
                    _, checkpoint, _ = open_proof(data, leaf_hash(proof.extra), origin, verifier)
                    error = None
                    break
                except LedgerError as exc:
                    error = exc
            if error is not None:
                raise type(error)(f"receipt {path}: {error}")
            line = (f"ok {path}: event {proof.extra.hex()[:16]}… is leaf {proof.index} of "
                    f"{origin}'s checkpoint of {checkpoint.size}")
            checked.append({"file": str(path), "event_hash": proof.extra.hex(),
                            "index": proof.index, "origin": origin,
                            "checkpoint_size": checkpoint.size, "in_ledger": None,
                            "position": None})
            if tlog is not None:
                position = tlog.recorder.leaf_position(proof.index) if tlog.has_tree() else None
                try:
                    here = tlog.event_hash_at(position) if position is not None else None
                except InputError:  # no row at that position any more
                    here = None
                if here != proof.extra:
                    missing += 1
                    checked[-1]["in_ledger"] = False
                    if not as_json:
                        click.echo(render.visible(
                            f"EVENT_MISSING {path}: the ledger no longer holds event "
                            f"{proof.extra.hex()[:16]}… at index {proof.index}"))
                    continue
                checked[-1].update(in_ledger=True, position=position)
                line += f"; still in the ledger at position {position}"
            if not as_json:
                click.echo(render.visible(line))
        if as_json:
            head = tlog.app.last_position() if tlog is not None else None
            click.echo(render.json_text({"log_position": head, "intact": missing == 0,
                                         "missing": missing, "receipts": checked}))
        if missing:
            ctx.exit(EXIT_FINDINGS)


def read_receipt(path: Path) -> bytes:
    return read_bounded(path, MAX_RECEIPT, "receipt")


__all__ = ["EXIT_FINDINGS", "register", "install_append_hook", "read_receipt"]
