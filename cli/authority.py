"""`custody authority set`: replace the authority set, as TUF rotates its root."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import click

from cli.context import ledger_of, print_receipt, public_key_of
from cli.options import ID, occurred_at, unlock_signers
from ledger.core.errors import InputError

@click.group()
def authority() -> None:
    """The authority set: who signs enrolments, rooms and policies, and how many must."""


@authority.command("set", epilog="""\b
Example (AUTH-01 hands over to AUTH-02 and AUTH-03, either of whom may sign from then on):
  custody authority set AUTH-02=auth02.key.pub AUTH-03=auth03.key.pub --threshold 1 \\
      --sign auth01.key --sign auth02.key --sign auth03.key

\b
Example (AUTH-03's key is lost or compromised: AUTH-02 authorises, AUTH-03 signs with the
new key, made with 'custody keys new AUTH-03 --out auth03-new.key'):
  custody authority set AUTH-02=auth02.key.pub AUTH-03=auth03-new.key.pub --threshold 1 \\
      --sign auth02.key --sign auth03-new.key

Every authority of the new set must sign (proving they hold the key named), and so must
the threshold of the current set, with the keys it holds now; a member named with a new key
signs with the new one, which counts for the new set only. Authorities left out of the new
set can no longer sign anything from this step on, nor can a replaced key; the new set's
members join the roster with role authority.""")
@click.argument("members", nargs=-1, required=True, metavar="ID=PUBFILE...")
@click.option("--threshold", type=click.IntRange(1, 16), default=1, show_default=True,
              help="How many of the new set must sign each roster, room and policy event.")
@click.option("--unit", default="Examination authority", show_default=True,
              help="Unit of members new to the roster.")
@click.option("--sign", "keyfiles", multiple=True, required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Private key file of a current or new authority; repeat for each.")
@click.option("--passphrase-file", "passphrase_files", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="A key's passphrase file, for scripts; one per --sign, in order.")
@click.option("--occurred-at", "when", metavar="TIME", help="RFC 3339 with offset (default: now).")
@click.pass_context
def authority_set(ctx: click.Context, members: Sequence[str], threshold: int, unit: str,
                  keyfiles: Sequence[Path], passphrase_files: Sequence[Path],
                  when: str | None) -> None:
    """Name a new authority set (IDs and their public key files) and its threshold."""
    entries: list[dict[str, Any]] = []
    for member in members:
        person_id, sep, path = member.partition("=")
        if not sep or not path:
            raise InputError(f"{member!r}: give each member as ID=PUBFILE, e.g. "
                             "AUTH-02=auth02.key.pub")
        ID.convert(person_id, None, ctx)
        key = public_key_of(Path(path), person_id)
        entries.append({"id": person_id, "name": person_id, "unit": unit,
                        "public_key": key.hex})
    if len({e["id"] for e in entries}) != len(entries):
        raise InputError("a member is named twice; name each authority once")
    app = ledger_of(ctx)
    app.ledger()
    current = {pid: m for pid in (e["id"] for e in entries) if (m := app.member(pid))}
    for entry in entries:
        if entry["id"] in current:  # an authority kept in the set keeps their name and unit
            entry.update(name=current[entry["id"]].name, unit=current[entry["id"]].unit)
    signers = unlock_signers(keyfiles, passphrase_files)
    print_receipt(app.set_authorities(entries, threshold, signers,
                                       occurred_at(when, app.clock)))
