"""``custody witness cosign`` (an independent office, no database) and ``custody witness add``
(stores cosignatures in the ledger's checkpoint table)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from cli import render
from cli.context import ledger_of
from cli.errors import EXIT_FINDINGS
from cli.i18n import _
from cli.options import read_bounded, unlock_key
from ledger.application.keystore import Signer, read_public_key
from ledger.application.log import TransparencyLog
from ledger.application.witness import Witness, WitnessState
from ledger.core.errors import InputError, LedgerError
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import parse_note
from ledger.tlog.witness import MAX_CHECKPOINT_NOTE, Fork, cosign_request, parse_consistency

MAX_NOTE = MAX_CHECKPOINT_NOTE


def unlock_witness_key(key_file: Path, passphrase_file: Path | None) -> Signer:
    """The witness's key, its passphrase from ``passphrase_file`` or prompted hidden."""
    return unlock_key(key_file, passphrase_file, f"Passphrase for witness key {key_file}")


def register(main: click.Group) -> None:
    """Add ``custody witness`` to ``main``."""

    @main.group("witness")
    def witness_group() -> None:
        """Witnesses: an independent office cosigns checkpoints (C2SP tlog-cosignature)."""

    @witness_group.command("cosign", epilog="""\b
Example (the inspection office, with no database):
  custody prove --consistency 120 250 --json > proof.json     # at the ledger
  custody witness cosign checkpoint.txt --key ins01.key --log-key log.key.pub \\
      --state witness-state --proof proof.json > cosigned.txt
  custody witness add cosigned.txt                             # at the ledger
The first checkpoint of a log is cosigned without --proof; every later one needs the
consistency proof from the size last cosigned (kept in --state). On a fork: exit 1, and
both checkpoints are written to the state directory as evidence.""")
    @click.argument("checkpoint_file", metavar="CHECKPOINT",
                    type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--key", "key_file", required=True,
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="The witness's key file (an enrolled inspector's).")
    @click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Passphrase of the witness key, for scripts (default: prompt).")
    @click.option("--log-key", "log_key_file", required=True,
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="The log's public key file: the checkpoint must be signed by it.")
    @click.option("--state", "state_dir", required=True,
                  type=click.Path(file_okay=False, path_type=Path),
                  help="Directory where the witness keeps the last checkpoint it cosigned "
                       "per log (files 0600) and evidence of forks.")
    @click.option("--proof", "proof_file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Consistency proof from the last cosigned size: the output of "
                       "'custody prove --consistency OLD NEW --json'.")
    @click.option("--time", "timestamp", type=click.IntRange(0, (1 << 63) - 1), default=None,
                  help="Cosignature time in POSIX seconds (default: now; for replays and "
                       "tests).")
    @click.pass_context
    def witness_cosign(ctx: click.Context, checkpoint_file: Path, key_file: Path,
                       passphrase_file: Path | None, log_key_file: Path, state_dir: Path,
                       proof_file: Path | None, timestamp: int | None) -> None:
        """Check CHECKPOINT extends the last one cosigned, then print it cosigned."""
        note = read_bounded(checkpoint_file, MAX_NOTE, "checkpoint")
        origin = Checkpoint.parse(parse_note(note)[0]).origin
        log_key = read_public_key(log_key_file)[0].raw
        proof = None
        if proof_file is not None:
            try:
                data = json.loads(read_bounded(proof_file, MAX_NOTE, "consistency proof"))
            except ValueError:
                raise InputError(f"consistency proof {proof_file} is not JSON") from None
            proof = parse_consistency(data)
        signer = unlock_witness_key(key_file, passphrase_file)
        state = WitnessState(state_dir)
        clock = time.time if timestamp is None else (lambda: timestamp)
        witness = Witness(signer.person_id, signer.key, {origin: log_key}, state, clock)
        # The log's signature first: an unsigned note is no evidence of anything.
        new = witness.open(note)
        latest = state.latest(origin)
        old_size, hashes = cosign_request(latest[0] if latest else None, new, proof)
        try:
            _, cosigned, _ = witness.cosign(note, old_size, hashes)
        except Fork as exc:
            stem = getattr(exc, "evidence", None)
            click.echo("error: " + render.visible(
                f"fork: {exc}; refused to cosign, both checkpoints kept as evidence in "
                f"{stem}.old.checkpoint and .new.checkpoint"), err=True)
            ctx.exit(EXIT_FINDINGS)
        click.echo(cosigned.decode("utf-8"), nl=False)

    @witness_group.command("serve", epilog="""\b
Example (the inspection office):
  custody witness serve --key dio01.key --log-key gd-gaokao-2026.key.pub \\
      --state witness-state --listen 0.0.0.0:8081
  custody checkpoint --key log.key --witness http://office.example:8081   # at the ledger
Answers POST /add-checkpoint as C2SP tlog-witness says: 200 with the cosignature; 400
malformed; 403 not signed by the log key; 404 a log it does not follow; 409 (with the
size it cosigned, text/x.tlog.size) when the old size is not that size, or for a fork;
422 a consistency proof that fails. The state is saved before it answers, and shared with
'custody witness cosign'. Ctrl-C (or SIGTERM) stops it.""")
    @click.option("--key", "key_file", required=True,
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="The witness's key file (an enrolled inspector's, or a witness the "
                       "genesis names).")
    @click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                  help="Passphrase of the witness key, for scripts (default: prompt).")
    @click.option("--log-key", "log_key_files", required=True, multiple=True,
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="A log's public key file, naming its log (made by 'custody keys new "
                       "LEDGER-ID'); repeat it for each log the witness follows.")
    @click.option("--state", "state_dir", required=True,
                  type=click.Path(file_okay=False, path_type=Path),
                  help="Directory where the witness keeps the last checkpoint it cosigned "
                       "per log (files 0600) and evidence of forks.")
    @click.option("--listen", "address", required=True, metavar="HOST:PORT",
                  help="Where to listen, e.g. 0.0.0.0:8081 (port 0: any free port).")
    def witness_serve(key_file: Path, passphrase_file: Path | None,
                      log_key_files: tuple[Path, ...], state_dir: Path, address: str) -> None:
        """Cosign checkpoints over HTTP (C2SP tlog-witness add-checkpoint)."""
        from cli.log import run_server
        from ledger.network.server import parse_listen, witness_server
        from ledger.tlog.witness import MAX_REQUEST

        logs: dict[str, bytes] = {}
        for path in log_key_files:
            public_key, origin = read_public_key(path)
            if origin is None:
                raise InputError(f"{path} does not name its log; use the .pub file 'custody "
                                 "keys new LEDGER-ID' wrote for the log key")
            logs[origin] = public_key.raw
        listen = parse_listen(address)
        signer = unlock_witness_key(key_file, passphrase_file)
        witness = Witness(signer.person_id, signer.key, logs, WitnessState(state_dir))
        server = witness_server(witness.add_checkpoint, MAX_REQUEST, listen,
                                log=lambda line: click.echo(render.visible(line), err=True))
        run_server(server, _("witness {name} for {logs} at {url}/add-checkpoint").format(
            name=signer.person_id, logs=", ".join(sorted(logs)), url=server.url))

    @witness_group.command("add", epilog="""\b
Example:
  custody witness add cosigned.txt""")
    @click.argument("cosigned_file", metavar="COSIGNED",
                    type=click.Path(dir_okay=False, path_type=Path))
    @click.pass_context
    def witness_add(ctx: click.Context, cosigned_file: Path) -> None:
        """Store a checkpoint's witness cosignatures with it in the ledger (each must be by an
        enrolled inspector's key)."""
        note = read_bounded(cosigned_file, MAX_NOTE, "cosigned checkpoint")
        checkpoint = Checkpoint.parse(parse_note(note)[0])
        found = TransparencyLog(ledger_of(ctx)).add_cosignatures(note)
        for c in found:
            click.echo(render.visible(
                f"cosignature by {c.witness} at {c.timestamp} stored with the checkpoint of "
                f"size {checkpoint.size}"))


__all__ = ["register", "LedgerError"]
