"""`custody room register` and `custody site register`: the registered places steps happen
at, licensed secure rooms and sites (authority-signed)."""

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
@click.option("--within", default=None, type=ID, metavar="SITE",
              help="The registered site the room lies within (the exam institute it is in).")
@authority_options
@click.pass_context
def room_register(ctx: click.Context, room_id: str, name: str, licence: str, valid_from: str,
                  valid_until: str, within: str | None, authority_keys: Sequence[Path],
                  passphrase_files: Sequence[Path], when: str | None) -> None:
    """Register ROOM_ID with its licence and validity."""
    room_data = {"id": room_id, "name": name, "licence": licence,
                 "valid_from": moment(valid_from, "--valid-from"),
                 "valid_until": moment(valid_until, "--valid-until"),
                 **({"within": within} if within else {})}
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files, app)
    print_receipt(app.register_room(room_data, signers, occurred_at(when, app.clock)))


@click.group()
def site() -> None:
    """Register sites: printing houses, exam sites and rooms, marking and scanning centres
    (authority-signed). Steps name them with --place site:ID."""


@site.command("register", epilog="""\b
Examples:
  custody site register S01 --name "No. 1 Middle School" --authority-key authority.key
  custody site register S01-R12 --name "Exam room 12" --within S01 --authority-key authority.key

\b
Presence conflicts are judged between places: one person can be anywhere inside one site
within the policy's window, so a site's rooms lie --within it.""")
@click.argument("site_id", type=ID)
@click.option("--name", required=True, type=TEXT, help="Name of the site.")
@click.option("--within", default=None, type=ID, metavar="SITE",
              help="The registered site this one lies within (an exam room's school).")
@authority_options
@click.pass_context
def site_register(ctx: click.Context, site_id: str, name: str, within: str | None,
                  authority_keys: Sequence[Path], passphrase_files: Sequence[Path],
                  when: str | None) -> None:
    """Register SITE_ID, perhaps within another site."""
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files)
    site_data = {"id": site_id, "name": name, **({"within": within} if within else {})}
    print_receipt(app.register_site(site_data, signers, occurred_at(when, app.clock)))
