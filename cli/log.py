"""``custody log``, ``checkpoint``, ``prove``, ``check-receipt``: the transparency log's commands,
and the append hook that signs checkpoints (CUSTODY_LOG_KEY) and writes receipts (--receipt).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from cli import render
from cli.context import authority_options, authority_signers, ledger_of, print_receipt, say
from cli.errors import EXIT_FINDINGS
from cli.i18n import _, translated
from cli.options import LOG_KEY_ENV, RECEIPT_KEY, occurred_at, read_bounded, unlock_key
from ledger.application.custody import CustodyLedger, Receipt
from ledger.application.keystore import Signer, read_public_key
from ledger.application.log import TransparencyLog
from ledger.core.errors import InputError, LedgerError, VerificationFailed
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import parse_note
from ledger.storage.files import write_file

if TYPE_CHECKING:
    from ledger.network.server import Server

LOG_PASSPHRASE_ENV = "CUSTODY_LOG_KEY_PASSPHRASE_FILE"
WITNESSES_ENV = "CUSTODY_WITNESSES"
TIMEOUT = 10.0  # seconds per request to a witness after an append
SIGNER_KEY = "custody.log_signer"
MAX_RECEIPT = 64 * 1024


def unlock_log_key(path: Path, passphrase_file: Path | None,
                   avoid: str = "--passphrase-file FILE") -> Signer:
    """Unlock a log key file: passphrase from ``passphrase_file``, else prompted hidden
    (``avoid``: what gives it without a prompt)."""
    return unlock_key(path, passphrase_file, f"Passphrase for log key {path}", avoid)


def install_append_hook(ctx: click.Context, app: CustodyLedger) -> None:
    """Before a writing command judges anything: unlock CUSTODY_LOG_KEY (a wrong passphrase
    stops the command before anything is written), and have every append sign a checkpoint
    with it and write the --receipt file."""
    path = os.environ.get(LOG_KEY_ENV)
    if path and SIGNER_KEY not in ctx.meta:
        phrase = os.environ.get(LOG_PASSPHRASE_ENV)
        ctx.meta[SIGNER_KEY] = unlock_log_key(Path(path), Path(phrase) if phrase else None,
                                              avoid=f"{LOG_PASSPHRASE_ENV}=FILE")
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
            if receipts[-1].event_type != "ledger.genesis":
                _warn(f"no checkpoint signed with {LOG_KEY_ENV}: {exc}")
    urls = os.environ.get(WITNESSES_ENV, "").split()
    if note is not None and urls:
        try:
            gather_cosignatures(tlog, note, urls, TIMEOUT)
            note = tlog.stored_version(note)
        except LedgerError as exc:
            _warn(_("no witness asked to cosign: {reason}").format(reason=exc))
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
    if note is None or checkpoint_of(note).size <= leaf:
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
    """Put ``data`` at ``path``, which must not exist, whole or not at all, and durably
    (``ledger.storage.files``): a process killed midway leaves no half-written ``path``, and
    once this returns the file survives a crash, as the step whose receipt it is does."""
    try:
        write_file(path, data, replace=False)
    except FileExistsError:
        raise InputError(f"{path} already exists; choose another {what}") from None
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}; check that the "
                         "folder exists and is writable, or choose another path") from None


def gather_cosignatures(tlog: TransparencyLog, note: bytes, urls: Sequence[str],
                        timeout: float) -> set[str]:
    """Ask each witness to cosign ``note`` (stored); warn for each that did not; return the
    names of the witnesses whose cosignatures were stored."""
    from ledger.application.cosigning import ask_witnesses

    cosigned: set[str] = set()
    for asked in ask_witnesses(tlog, note, urls, timeout):
        if asked.problem is not None:
            _warn(_("witness {url}: {problem}").format(url=asked.url,
                                                      problem=translated(asked.problem)))
        cosigned.update(asked.witnesses)
    return cosigned


class QuorumMissed(VerificationFailed):
    """Fewer witnesses cosigned than the quorum asked (exit 1)."""


def checkpoint_of(note: bytes) -> Checkpoint:
    """The checkpoint a signed note holds (its signatures are checked where it is used)."""
    return Checkpoint.parse(parse_note(note)[0])


def run_server(server: Server, started: str) -> None:
    """Say where it listens, then serve until Ctrl-C or SIGTERM."""
    click.echo(render.visible(started), nl=True)
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _request_line(text: str) -> None:
    click.echo(render.visible(text), err=True)


def _warn(text: str) -> None:
    click.echo("warning: " + render.visible(text), err=True)


def register(main: click.Group) -> None:
    """Add the log's commands to ``main``."""

    @main.group("log")
    def log_group() -> None:
        """The transparency log: name its checkpoint-signing key; publish it as tiles."""

    @log_group.command("tiles", epilog="""\b
Examples:
  custody log tiles public                  # then serve public/ with any web server, or:
  custody log serve --dir public --listen 127.0.0.1:8080
Writes public/checkpoint, public/tile/<L>/<N>, public/tile/entries/<N> and the stored
events in public/custody/events/<N> (C2SP tlog-tiles), up to the newest checkpoint the
log key signed. Run it again after new checkpoints: only new and grown tiles are written.""")
    @click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
    @click.pass_context
    def log_tiles(ctx: click.Context, directory: Path) -> None:
        """Publish the log in DIR as static C2SP tlog-tiles."""
        from ledger.application.tiles import export_tiles

        done = export_tiles(ledger_of(ctx, read_only=True), directory)
        if done.files == 0:
            say(_("{directory}: already publishes the checkpoint of {size} events; nothing "
                  "written").format(directory=directory, size=done.size))
        else:
            say(_("{directory}: published the checkpoint of {size} events (before: {old}); "
                  "{files} files, {bytes} bytes written").format(
                directory=directory, size=done.size, old=done.old_size, files=done.files,
                bytes=done.bytes))
        if done.uncovered:
            say(_("{count} newer event(s) wait for a checkpoint: sign one with 'custody "
                  "checkpoint --key LOG.key', then publish again").format(count=done.uncovered))

    @log_group.command("serve", epilog="""\b
Example:
  custody log serve --dir public --listen 0.0.0.0:8080
Read-only: GET and HEAD of /checkpoint (no-store) and of tile paths (immutable, cached for
a year); nothing can be written through it. Ctrl-C (or SIGTERM) stops it.""")
    @click.option("--dir", "directory", required=True,
                  type=click.Path(file_okay=False, exists=True, path_type=Path),
                  help="A folder written by 'custody log tiles'.")
    @click.option("--listen", "address", required=True, metavar="HOST:PORT",
                  help="Where to listen, e.g. 127.0.0.1:8080 (port 0: any free port).")
    def log_serve(directory: Path, address: str) -> None:
        """Serve a tiles folder over HTTP, read-only (C2SP tlog-tiles)."""
        from ledger.application.tiles import EVENTS
        from ledger.network.server import parse_listen, tiles_server

        server = tiles_server(directory, parse_listen(address), log=_request_line,
                              bases=(EVENTS,))
        run_server(server, _("serving {directory} at {url}/ (read-only)").format(
            directory=directory, url=server.url))

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
        signer = authority_signers(authority_keys, passphrase_files, app)
        print_receipt(app.set_log_key(public_key, signer, occurred_at(when, app.clock)))
        click.echo(render.visible(f"log key {public_key.id[:16]} of ledger {view.ledger_id} "
                                  "is named; sign checkpoints with 'custody checkpoint --key'"))

    @main.command("checkpoint", epilog="""\b
Examples:
  custody checkpoint --key log.key > checkpoint.txt
  custody checkpoint --key log.key --witness http://office.example:8081 \\
      --witness http://authority.example:8081 --quorum 1
  custody checkpoint --verifier-key
With --witness, each witness (C2SP tlog-witness) is sent the checkpoint and the consistency
proof from the size it cosigned last, and its cosignature is stored with the checkpoint,
which is printed cosigned. A witness that refuses, times out or cannot be reached is a
warning line; fewer cosigning witnesses than --quorum (default: all given) is exit 1, the
checkpoint stored all the same. CUSTODY_WITNESSES (URLs separated by spaces) does the same
for the checkpoints CUSTODY_LOG_KEY signs after each append.""")
    @click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
                  help="The log's private key file.")
    @click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Passphrase of the log key, for scripts (default: prompt).")
    @click.option("--verifier-key", is_flag=True,
                  help="Print the log's note verifier key (name+keyhash+base64) instead.")
    @click.option("--witness", "witnesses", multiple=True, metavar="URL",
                  help="A witness's URL (its add-checkpoint prefix) to cosign the checkpoint; "
                       "repeatable.")
    @click.option("--quorum", type=click.IntRange(1), default=None,
                  help="How many witnesses must cosign (default: every --witness).")
    @click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0,
                  show_default=True, help="Seconds to wait for each witness, per request.")
    @click.pass_context
    def checkpoint(ctx: click.Context, key_file: Path | None, passphrase_file: Path | None,
                   verifier_key: bool, witnesses: Sequence[str], quorum: int | None,
                   timeout: float) -> None:
        """Sign the tree head as a C2SP checkpoint, store it and print it."""
        if verifier_key == (key_file is not None):
            raise InputError("give either --key LOG.key (sign a checkpoint) or --verifier-key")
        if quorum is not None and quorum > len(witnesses):
            raise InputError(f"--quorum {quorum} needs at least {quorum} --witness URLs")
        if verifier_key:
            tlog = TransparencyLog(ledger_of(ctx, read_only=True))
            click.echo(tlog.verifier_key())
            return
        assert key_file is not None
        signer = unlock_log_key(key_file, passphrase_file)
        tlog = TransparencyLog(ledger_of(ctx))
        note = tlog.sign_checkpoint(signer)
        cosigned = gather_cosignatures(tlog, note, witnesses, timeout) if witnesses else set()
        click.echo(tlog.stored_version(note).decode("utf-8"), nl=False)
        need = len(witnesses) if quorum is None else quorum
        if len(cosigned) < need:
            raise QuorumMissed(_("{count} witness(es) cosigned, fewer than the quorum of "
                                 "{quorum}; the checkpoint is stored, without enough "
                                 "cosignatures").format(count=len(cosigned), quorum=need))

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
            inclusion = tlog.inclusion(position, checkpoint_of(note).size, note)
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
        from ledger.application.receipts import ReceiptChecker

        use_db = log_key_file is None or ctx.obj.get("db") is not None
        checker = ReceiptChecker(
            read_public_key(log_key_file)[0].raw if log_key_file is not None else None,
            TransparencyLog(ledger_of(ctx, read_only=True)) if use_db else None)
        missing = 0
        checked: list[dict] = []  # each receipt, for --json
        for path in receipts:
            result = checker.check(read_receipt(path), str(path))
            checked.append({"file": str(path), "event_hash": result.event_hash.hex(),
                            "index": result.proof.index, "origin": result.checkpoint.origin,
                            "checkpoint_size": result.checkpoint.size,
                            "in_ledger": None if not use_db else not result.findings,
                            "position": result.position})
            for finding in result.findings:
                missing += 1
                if not as_json:
                    click.echo(render.visible(f"{finding.code} {translated(finding.message)}"))
            if result.findings or as_json:
                continue
            line = _("ok {path}: event {event}… is leaf {index} of {origin}'s checkpoint of "
                     "{size}").format(path=path, event=result.event_hash.hex()[:16],
                                      index=result.proof.index,
                                      origin=result.checkpoint.origin,
                                      size=result.checkpoint.size)
            if result.position is not None:
                line += _("; still in the ledger at position {position}").format(
                    position=result.position)
            click.echo(render.visible(line))
        if as_json:
            head = checker.tlog.app.last_position() if checker.tlog is not None else None
            click.echo(render.json_text({"log_position": head, "intact": missing == 0,
                                         "missing": missing, "receipts": checked}))
        if missing:
            ctx.exit(EXIT_FINDINGS)


def read_receipt(path: Path) -> bytes:
    return read_bounded(path, MAX_RECEIPT, "receipt")


__all__ = ["EXIT_FINDINGS", "register", "install_append_hook", "read_receipt"]
