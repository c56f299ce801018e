"""The authority's commands: `custody init`, `person enrol|revoke|rotate`, `policy set`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import click

from cli import times
from cli.options import (
    ID,
    TEXT,
    occurred_at,
    read_bounded,
)
from cli.names import PERSON
from cli.steps import moment
from cli.i18n import _
from ledger.application.custody import genesis_witnesses
from ledger.application.keystore import read_public_key
from ledger.core.errors import InputError
from ledger.core.keys import PublicKey
from ledger.core.policy import ROLES, PresencePolicy
from ledger.domain.schemas import check_policy, value_problem
from cli.context import (
    authority_options,
    authority_signers,
    ledger_of,
    print_receipt,
    public_key_of,
    say,
)

DEFAULT_POLICY = "two-police-four-staff"
MAX_POLICY_FILE = 64 * 1024


@click.command(epilog="""\b
Examples:
  custody init --ledger-id gd-2026 --authority-key authority.key
  custody init --ledger-id gd-2026 --authority-key authority.key --time-zone Asia/Shanghai
  custody init --ledger-id gd-2026 --authority-key authority.key --log-key log.key.pub \\
      --witness DIO-01=dio01.key.pub""")
@click.option("--ledger-id", required=True, type=ID,
              help="Name of this ledger, e.g. gd-gaokao-2026.")
@click.option("--name", default=None, type=TEXT,
              help="The authority's name (default: its person id).")
@click.option("--unit", default="Examination authority", show_default=True, type=TEXT,
              help="The authority's office.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Presence policy JSON (default: the built-in {DEFAULT_POLICY}).")
@click.option("--log-key", "log_key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The log key's public key file: it signs the log's checkpoints "
                   "(also later: 'custody log enable').")
@click.option("--witness", "witness_specs", multiple=True, metavar="NAME=PUBFILE",
              help="A witness (e.g. the discipline inspection office) whose cosignatures of "
                   "checkpoints count from the start: NAME is the key name it cosigns with "
                   "(its key file's id), PUBFILE its public key file. Repeat for more (at "
                   "most 16). Enrolled inspectors witness too.")
@click.option("--time-zone", "time_zone", default=None, metavar="ZONE",
              help="The zone the ledger's times are shown in: an IANA name (Asia/Shanghai) or "
                   "an offset (+08:00). Default: the offset of --occurred-at, or of this "
                   "machine's local time now. Times are stored in UTC whatever it is.")
@authority_options
@click.pass_context
def init(ctx: click.Context, ledger_id: str, authority_keys: Sequence[Path],
         passphrase_files: Sequence[Path], name: str | None, unit: str,
         policy_file: Path | None, log_key_file: Path | None, witness_specs: Sequence[str],
         time_zone: str | None, when: str | None) -> None:
    """Start a new ledger: its genesis names the authority, the presence policy and any
    witnesses."""
    policy = _load_policy(policy_file)
    if time_zone is not None:
        times.parse_zone(time_zone, "--time-zone")  # refused before anything is written
    if len(authority_keys) != 1:
        raise InputError("init takes one --authority-key: the genesis names one authority; "
                         "name more later with 'custody authority set'")
    log_key = read_public_key(log_key_file)[0] if log_key_file is not None else None
    witnesses = _witnesses(witness_specs)
    if log_key is not None and any(key.hex == log_key.hex for key in witnesses.values()):
        raise InputError(_("--witness: a witness's key is the log key; a witness needs a key "
                           "of its own ('custody keys new')"))
    (signer,) = authority_signers(authority_keys, passphrase_files)
    authority = {"id": signer.person_id, "name": name or signer.person_id, "unit": unit}
    # Refused before the database is opened: a bad --witness writes nothing.
    genesis_witnesses(ledger_id, {**authority, "public_key": signer.key.public_key.hex},
                      witnesses)
    app = ledger_of(ctx, create=True)
    moment_ = occurred_at(when, app.clock)
    if time_zone is None:  # the offset the officer lives in: as typed, or this machine's
        time_zone = times.offset_of(moment_ if when is not None else moment_.astimezone())
    print_receipt(app.init(ledger_id, authority, signer, policy, moment_, witnesses,
                           time_zone=time_zone))
    if log_key is not None:
        print_receipt(app.set_log_key(log_key, signer, moment_))
    say(_("ledger {ledger} started in {db}; policy {policy} v{version}; times shown in "
          "{zone}").format(ledger=ledger_id, db=app.backend.label, policy=policy.id,
                           version=policy.version, zone=time_zone))
    if witnesses:
        say(_("witnesses named in the genesis: {names}").format(names=", ".join(witnesses)))


MAX_WITNESSES = 16


def _witnesses(specs: Sequence[str]) -> dict[str, PublicKey]:
    """``--witness NAME=PUBFILE`` options as name -> key, refusing a bad or repeated one."""
    if len(specs) > MAX_WITNESSES:
        raise InputError(_("--witness given {n} times; the genesis names at most {most} "
                           "witnesses").format(n=len(specs), most=MAX_WITNESSES))
    found: dict[str, PublicKey] = {}
    for spec in specs:
        witness, sep, path = spec.partition("=")
        if not sep or not path:
            raise InputError(_("--witness {spec}: give NAME=PUBFILE, e.g. "
                               "--witness DIO-01=dio01.key.pub").format(spec=spec))
        problem = value_problem("id", witness)
        if problem is not None:
            raise InputError(_("--witness {spec}: the name {problem}").format(
                spec=spec, problem=problem))
        if witness in found:
            raise InputError(_("--witness {name} is given twice; name each witness once")
                             .format(name=witness))
        key, named = read_public_key(Path(path))
        if named is not None and named != witness:
            raise InputError(_("--witness {spec}: {path} is the key of {named}, not {name}")
                             .format(spec=spec, path=path, named=named, name=witness))
        found[witness] = key
    return found


def _load_policy(path: Path | None) -> PresencePolicy:
    if path is None:
        from importlib import resources

        text = resources.files("schemas").joinpath(f"policies/{DEFAULT_POLICY}.json").read_text()
        source = f"built-in {DEFAULT_POLICY}"
    else:
        raw = read_bounded(path, MAX_POLICY_FILE, "policy file")
        text, source = raw.decode("utf-8", errors="replace"), str(path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"policy {source} is not JSON: {exc}") from None
    check_policy(data, source=source)
    return PresencePolicy.from_data(data)


@click.group()
def person() -> None:
    """Enrol people, revoke or rotate their keys (authority-signed)."""


@person.command("enrol", epilog="""\b
Example:
  custody person enrol P-001 --name "Li Wei" --role police --unit "City PSB" \\
      --public-key p001.key.pub --authority-key authority.key""")
@click.argument("person_id", type=ID)
@click.option("--name", required=True, type=TEXT, help="Full name.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="Role the policy counts.")
@click.option("--unit", required=True, type=TEXT, help="Unit or office.")
@click.option("--public-key", "public_key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The person's KEYFILE.pub. A small-order or "
              "non-canonical Ed25519 key is refused.")
@click.option("--valid-until", default=None, metavar="TIME",
              help="The key counts only for steps up to TIME (default: until revoked).")
@authority_options
@click.pass_context
def person_enrol(ctx: click.Context, person_id: str, name: str, role: str, unit: str,
                 public_key_file: Path, valid_until: str | None,
                 authority_keys: Sequence[Path], passphrase_files: Sequence[Path], when: str | None) -> None:
    """Enrol PERSON_ID with a role, a unit and a public key."""
    public_key = public_key_of(public_key_file, person_id)
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files, app)
    person_data = {"id": person_id, "name": name, "role": role, "unit": unit}
    if valid_until is not None:
        person_data["valid_until"] = moment(valid_until, "--valid-until")
    receipt = app.enrol(person_data, public_key, signers, occurred_at(when, app.clock))
    print_receipt(receipt)


@person.command("revoke", epilog="""\b
Example:
  custody person revoke STF-04 --reason "key file lost on 2026-06-05" \\
      --authority-key authority.key""")
@click.argument("person_id", type=PERSON)
@click.option("--reason", required=True, type=TEXT, help="Why the key is revoked.")
@authority_options
@click.pass_context
def person_revoke(ctx: click.Context, person_id: str, reason: str, authority_keys: Sequence[Path],
                  passphrase_files: Sequence[Path], when: str | None) -> None:
    """Revoke PERSON_ID's key: nothing signed with it counts from here on."""
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files, app)
    print_receipt(app.revoke_key(person_id, reason, signers, occurred_at(when, app.clock)))


@person.command("rotate", epilog="""\b
Example:
  custody keys new STF-04 --out stf04-2.key
  custody person rotate STF-04 --public-key stf04-2.key.pub --authority-key authority.key""")
@click.argument("person_id", type=PERSON)
@click.option("--public-key", "public_key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The new KEYFILE.pub. A small-order or "
              "non-canonical Ed25519 key is refused.")
@authority_options
@click.pass_context
def person_rotate(ctx: click.Context, person_id: str, public_key_file: Path, authority_keys: Sequence[Path],
                  passphrase_files: Sequence[Path], when: str | None) -> None:
    """Give PERSON_ID a new key: only the new key counts from here on."""
    public_key = public_key_of(public_key_file, person_id)
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files, app)
    print_receipt(app.rotate_key(person_id, public_key, signers, occurred_at(when, app.clock)))


# -- lot -----------------------------------------------------------------------------------


@click.group()
def policy() -> None:
    """Set the presence policy in force (authority-signed, versioned)."""


@policy.command("set", epilog="Example: custody policy set policy-v2.json --authority-key authority.key")
@click.argument("policy_file", type=click.Path(dir_okay=False, path_type=Path))
@authority_options
@click.pass_context
def policy_set(ctx: click.Context, policy_file: Path, authority_keys: Sequence[Path],
               passphrase_files: Sequence[Path], when: str | None) -> None:
    """Put the policy in POLICY_FILE in force; its version must be higher than the current."""
    new_policy = _load_policy(policy_file)
    app = ledger_of(ctx)
    app.ledger()
    signers = authority_signers(authority_keys, passphrase_files, app)
    print_receipt(app.set_policy(new_policy, signers, occurred_at(when, app.clock)))
    say(_("policy {policy} v{version} is in force").format(policy=new_policy.id,
                                                          version=new_policy.version))
