"""`custody keys`: make Ed25519 key files (encrypted PKCS#8, mode 0600)."""

from __future__ import annotations

from pathlib import Path

import click

from cli.i18n import _
from cli.options import (
    ID,
    prompt_passphrase,
    read_passphrase_file,
)
from ledger.application.keystore import write_key_pair
from ledger.core.errors import InputError, KeyringError
from ledger.core.keys import SigningKey, check_new_passphrase
from ledger.core.text import Message
from cli.context import (
    say,
)


@click.group()
def keys() -> None:
    """Create Ed25519 key files (encrypted PKCS#8, mode 0600)."""


@keys.command("new", epilog="Example: custody keys new P-001 --out p001.key")
@click.argument("person_id", type=ID)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Private key file to write; the public key goes to OUT.pub.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the new passphrase from this file instead of prompting (scripts).")
@click.option("--no-passphrase", is_flag=True,
              help="Write the key unencrypted (tests and demos only).")
def keys_new(person_id: str, out: Path, passphrase_file: Path | None, no_passphrase: bool) -> None:
    """Create a key pair for PERSON_ID."""
    if out.exists() or Path(f"{out}.pub").exists():
        raise InputError(f"{out} or {out}.pub already exists; choose another --out")
    if no_passphrase and passphrase_file:
        raise InputError("--no-passphrase and --passphrase-file contradict each other")
    if no_passphrase:
        passphrase = None
        click.echo(_("warning: writing an UNENCRYPTED private key; anyone who copies the "
                     "file can sign as {person}").format(person=person_id), err=True)
    elif passphrase_file:
        passphrase = read_passphrase_file(passphrase_file)
        try:
            check_new_passphrase(passphrase)
        except KeyringError as exc:  # name the file: its first line is the passphrase
            raise KeyringError(Message("passphrase file {path}: {problem} (its first line "
                                       "is the passphrase)", path=passphrase_file,
                                       problem=exc.args[0])) from None
    else:
        passphrase = prompt_passphrase(f"New passphrase for {person_id}", confirm=True)
    key = SigningKey.generate()
    pub = write_key_pair(out, person_id, key, passphrase)
    say(_("wrote {private} (private, mode 600) and {public}").format(private=out, public=pub))
    say(_("key id {id}").format(id=key.public_key.id))
