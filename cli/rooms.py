"""`custody room register`: licensed secure rooms (authority-signed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import click

from cli.options import (
    ID,
    TEXT,
    occurred_at,
)
from cli.steps import moment
from cli.context import (
    authority_options,
    authority_signers,
    ledger_of,
    print_receipt,
)


@click.group()
def room() -> None:
    """Register licensed secure rooms (authority-signed)."""


@room.command("register", epilog="""\b
Example:
  custody room register SR-3 --name "County Secure Room 3" --licence BM-2026-031 \\
      --valid-from 2026-01-01T00:00:00+08:00 --valid-until 2026-12-31T23:59:59+08:00 \\
      --authority-key authority.key""")
@click.argument("room_id", type=ID)
@click.option("--name", required=True, type=TEXT, help="Name of the room.")
@click.option("--licence", required=True, type=TEXT, help="Licence number (保密室使用许可证).")
@click.option("--valid-from", required=True, metavar="TIME", help="Licence valid from (RFC 3339).")
@click.option("--valid-until", required=True, metavar="TIME", help="Licence valid until (RFC 3339).")
@authority_options
@click.pass_context
def room_register(ctx: click.Context, room_id: str, name: str, licence: str, valid_from: str,
                  valid_until: str, authority_keys: Sequence[Path], passphrase_files: Sequence[Path],
                  when: str | None) -> None:
    """Register ROOM_ID with its licence and validity."""
    room_data = {"id": room_id, "name": name, "licence": licence,
                 "valid_from": moment(valid_from, "--valid-from"),
                 "valid_until": moment(valid_until, "--valid-until")}
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files, app)
    print_receipt(app.register_room(room_data, signers, occurred_at(when, app.clock)))
