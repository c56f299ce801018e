"""The ``custody`` command: parse, call the ledger, print. No business rules here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import click

from cli import render
from cli.errors import EXIT_FINDINGS, LedgerFailure
from cli.options import (
    DIGEST,
    ID,
    NOTE,
    PARTY,
    TEXT,
    occurred_at,
    prompt_passphrase,
    read_bounded,
    receipt_option,
    read_passphrase_file,
    refuse_undecodable,
    unlock_signers,
)
from cli.steps import SHOWN, STEPS, Step, moment
from ledger.application.custody import CustodyLedger, Receipt, open_ledger
from ledger.application.drafts import MAX_DRAFT, format_draft, parse_draft
from ledger.application.keystore import read_public_key, write_key_pair
from ledger.core.errors import InputError, LedgerError
from ledger.core.keys import SigningKey
from ledger.core.policy import ROLES, PresencePolicy
from ledger.domain.aggregates import lot_stream
from ledger.domain.schemas import check_policy

DEFAULT_POLICY = "two-police-four-staff"
KINDS = ("question_paper", "answer_sheet", "spare_paper", "container")
MAX_POLICY_FILE = 64 * 1024

EXIT_CODES_HELP = """\b
Ids (people, lots, rooms, exams, seals ...): 1-64 ASCII letters, digits, '.', '_', '-'.
Text: one line, at most 200 characters (notes 2,000), no control or invisible characters.
Arguments are UTF-8.

\b
Exit codes: 0 success (verify: intact); 1 verify found errors;
2 bad input or usage, or the machine fell short (scratch space, a lost worker);
3 refused by a rule (nothing written); 4 key file or passphrase; 5 database;
6 another writer changed the lot first (re-draft).
"""


class LedgerGroup(click.Group):
    """Turns every expected LedgerError into one line on stderr and its exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, before any option is read
            try:
                refuse_undecodable(args)
            except LedgerError as error:
                raise LedgerFailure(error) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        succeeded = False
        try:
            result = super().invoke(ctx)
            succeeded = True
        except LedgerError as error:
            raise LedgerFailure(error) from None
        finally:
            writer = ctx.obj.pop("writer", None) if (
                ctx.parent is None and isinstance(ctx.obj, dict)) else None
            if writer is not None:
                if succeeded:  # a refused command writes nothing, not even the view
                    from cli.views import refresh_after_write

                    refresh_after_write(writer)
                writer.close()
        return result


def keyfile_option(*names: str, multiple: bool = False, required: bool = True, help: str) -> Any:
    return click.option(*names, multiple=multiple, required=required, help=help,
                        type=click.Path(dir_okay=False, path_type=Path))


def authority_options(func: Any) -> Any:
    """--authority-key (whoever signs for the authority), its passphrase file, --occurred-at."""
    for option in reversed([
        keyfile_option("--authority-key", "authority_keys", multiple=True,
                       help="An authority's private key file; it signs. Repeat it when the "
                            "authority set's threshold asks for more than one signature."),
        click.option("--passphrase-file", "passphrase_files", multiple=True,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Passphrase of an authority key, for scripts (default: prompt); one "
                          "per --authority-key, in order. Keep it mode 600: one group or "
                          "others can read gets a warning."),
        click.option("--occurred-at", "when", metavar="TIME",
                     help="RFC 3339 with offset (default: now)."),
        receipt_option,
    ]):
        func = option(func)
    return func


def _public_key_of(path: Path, person_id: str) -> Any:
    """The key in a .pub file, refused if the file names someone else."""
    public_key, label = read_public_key(path)
    if label is not None and label != person_id:
        raise InputError(f"{path} is the public key of {label}, not {person_id}")
    return public_key


def _authority(authority_keys: Sequence[Path], passphrase_files: Sequence[Path]) -> Any:
    """The authorities signing: every --authority-key, unlocked."""
    return unlock_signers(authority_keys, passphrase_files)


def passphrase_files_option() -> Any:
    return click.option(
        "--passphrase-file", "passphrase_files", multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="File holding a key's passphrase (first line), for scripts; one per key, in order. "
             "Without it you are prompted, hidden. Keep it mode 600: one group or others can "
             "read gets a warning.")


def step_options(func: Any) -> Any:
    """Options every co-signed step takes."""
    for option in reversed([
        click.option("--location", required=True, type=TEXT, help="Where the step happens."),
        click.option("--occurred-at", "when", metavar="TIME",
                     help="When it happened, RFC 3339 with offset (default: now)."),
        keyfile_option("--sign", "keyfiles", multiple=True, required=True,
                       help="Key file of one person present; repeat for everyone who co-signs."),
        passphrase_files_option(),
        click.option("--note", default=None, type=NOTE,
                     help="Free text kept with the step (one line)."),
        receipt_option,
    ]):
        func = option(func)
    return func


@click.group(cls=LedgerGroup, epilog=EXIT_CODES_HELP)
@click.option("--db", envvar="CUSTODY_DB", default=None, metavar="PATH|URL",
              help="Ledger database: a SQLite file (default ./custody.db) or postgresql://host/db. "
                   "Also CUSTODY_DB.")
@click.version_option(package_name="custody-ledger")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """custody-ledger: co-signed, hash-chained custody records of examination papers.

    \b
    A typical day:
      custody keys new P-001 --out p001.key
      custody init --ledger-id gd-2026 --authority-key authority.key
      custody person enrol P-001 --name "Li Wei" --role police --unit "City PSB" \\
          --public-key p001.key.pub --authority-key authority.key
      custody lot register MATH-01 --exam gaokao-2026 --subject math --kind question_paper \\
          --count 30 --seal S-1 --location "Printing house" --sign p001.key ...
      custody record handover --lot MATH-01 --from P-003 --to P-004 --seal S-1 --count 30 \\
          --location "Secure room 1" --sign p001.key ...
      custody verify
    """
    ctx.obj = {"db": db}


def _ledger(ctx: click.Context, *, create: bool = False, read_only: bool = False) -> CustodyLedger:
    """The ledger at --db. Read commands open it ``read_only``: they never write to it.

    A writing command gets the log's append hook (a checkpoint with CUSTODY_LOG_KEY, a
    receipt with --receipt: ``cli.log``), and brings the view up to date once it succeeded."""
    app = open_ledger(ctx.obj["db"], create=create, read_only=read_only)
    if not read_only:
        from cli.log import install_append_hook

        install_append_hook(ctx, app)
        ctx.find_root().obj["writer"] = app
    return app


def _print_receipt(receipt: Receipt) -> None:
    click.echo(render.receipt(receipt))


def _say(text: str) -> None:
    """Print one message of the command's own, its values escaped (``render.visible``)."""
    click.echo(render.visible(text))


# -- keys ----------------------------------------------------------------------------------


@main.group()
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
        click.echo("warning: writing an UNENCRYPTED private key; anyone who copies the file "
                   "can sign as " + person_id, err=True)
    elif passphrase_file:
        passphrase = read_passphrase_file(passphrase_file)
    else:
        passphrase = prompt_passphrase(f"New passphrase for {person_id}", confirm=True)
    key = SigningKey.generate()
    pub = write_key_pair(out, person_id, key, passphrase)
    _say(f"wrote {out} (private, mode 600) and {pub}")
    _say(f"key id {key.public_key.id}")


# -- init ----------------------------------------------------------------------------------


@main.command(epilog="Example: custody init --ledger-id gd-2026 --authority-key authority.key")
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
@authority_options
@click.pass_context
def init(ctx: click.Context, ledger_id: str, authority_keys: Sequence[Path],
         passphrase_files: Sequence[Path], name: str | None, unit: str,
         policy_file: Path | None, log_key_file: Path | None, when: str | None) -> None:
    """Start a new ledger: its genesis names the authority and the presence policy."""
    policy = _load_policy(policy_file)
    if len(authority_keys) != 1:
        raise InputError("init takes one --authority-key: the genesis names one authority; "
                         "name more later with 'custody authority set'")
    log_key = read_public_key(log_key_file)[0] if log_key_file is not None else None
    (signer,) = _authority(authority_keys, passphrase_files)
    app = _ledger(ctx, create=True)
    authority = {"id": signer.person_id, "name": name or signer.person_id, "unit": unit}
    moment_ = occurred_at(when, app.clock)
    _print_receipt(app.init(ledger_id, authority, signer, policy, moment_))
    if log_key is not None:
        _print_receipt(app.set_log_key(log_key, signer, moment_))
    _say(f"ledger {ledger_id} started in {app.backend.label}; policy {policy.id} "
               f"v{policy.version}")


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


# -- person --------------------------------------------------------------------------------


@main.group()
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
    public_key = _public_key_of(public_key_file, person_id)
    app = _ledger(ctx)
    app.ledger()
    signers = _authority(authority_keys, passphrase_files)
    person_data = {"id": person_id, "name": name, "role": role, "unit": unit}
    if valid_until is not None:
        person_data["valid_until"] = moment(valid_until, "--valid-until")
    receipt = app.enrol(person_data, public_key, signers, occurred_at(when, app.clock))
    _print_receipt(receipt)


@person.command("revoke", epilog="""\b
Example:
  custody person revoke STF-04 --reason "key file lost on 2026-06-05" \\
      --authority-key authority.key""")
@click.argument("person_id", type=ID)
@click.option("--reason", required=True, type=TEXT, help="Why the key is revoked.")
@authority_options
@click.pass_context
def person_revoke(ctx: click.Context, person_id: str, reason: str, authority_keys: Sequence[Path],
                  passphrase_files: Sequence[Path], when: str | None) -> None:
    """Revoke PERSON_ID's key: nothing signed with it counts from here on."""
    app = _ledger(ctx)
    app.ledger()
    signers = _authority(authority_keys, passphrase_files)
    _print_receipt(app.revoke_key(person_id, reason, signers, occurred_at(when, app.clock)))


@person.command("rotate", epilog="""\b
Example:
  custody keys new STF-04 --out stf04-2.key
  custody person rotate STF-04 --public-key stf04-2.key.pub --authority-key authority.key""")
@click.argument("person_id", type=ID)
@click.option("--public-key", "public_key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The new KEYFILE.pub. A small-order or "
              "non-canonical Ed25519 key is refused.")
@authority_options
@click.pass_context
def person_rotate(ctx: click.Context, person_id: str, public_key_file: Path, authority_keys: Sequence[Path],
                  passphrase_files: Sequence[Path], when: str | None) -> None:
    """Give PERSON_ID a new key: only the new key counts from here on."""
    public_key = _public_key_of(public_key_file, person_id)
    app = _ledger(ctx)
    app.ledger()
    signers = _authority(authority_keys, passphrase_files)
    _print_receipt(app.rotate_key(person_id, public_key, signers, occurred_at(when, app.clock)))


# -- lot -----------------------------------------------------------------------------------


@main.group()
def lot() -> None:
    """Register lots of papers."""


@lot.command("register", epilog="""\b
Example:
  custody lot register MATH-01 --exam gaokao-2026 --subject math --kind question_paper \\
      --count 30 --seal S-0001 --seal S-0002 --location "Printing house" --holder P-003 \\
      --sign p001.key --sign p002.key --sign p003.key --sign p004.key --sign p005.key --sign p006.key""")
@click.argument("lot_id", type=ID)
@click.option("--exam", required=True, type=ID, help="Examination (an id), e.g. gaokao-2026.")
@click.option("--subject", required=True, type=TEXT, help="Subject, e.g. math.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="Kind of papers.")
@click.option("--count", required=True, type=click.IntRange(1, 1_000_000), help="Number of items.")
@click.option("--seal", "seals", multiple=True, required=True, type=ID,
              help="Seal number; repeat for each.")
@click.option("--holder", required=True, type=PARTY,
              help="Who takes custody at registration: a person id, or room:ID / vehicle:ID / "
                   "site:ID.")
@step_options
@click.pass_context
def lot_register(ctx: click.Context, lot_id: str, exam: str, subject: str, kind: str, count: int,
                 seals: Sequence[str], holder: str | None, location: str, when: str | None,
                 keyfiles: Sequence[Path], passphrase_files: Sequence[Path],
                 note: str | None) -> None:
    """Register LOT_ID, co-signed by the people present."""
    app = _ledger(ctx)
    app.ledger()
    signers = unlock_signers(keyfiles, passphrase_files)
    lot_data = {"id": lot_id, "exam": exam, "subject": subject, "kind": kind, "count": count,
                "seals": sorted(seals)}
    receipt = app.register_lot(lot_data, location, occurred_at(when, app.clock), signers,
                               holder=holder, note=note)
    _print_receipt(receipt)


# -- co-signed steps: record (sign here) and draft (sign elsewhere) -------------------------


@main.group()
def record() -> None:
    """Record a step, co-signed on this terminal by everyone present (--sign per person)."""


@main.group()
def draft() -> None:
    """Write a step as an unsigned draft file, for each attendee to sign on their own device."""


@main.group()
def duty() -> None:
    """Start or end a duty shift in a secure room (24-hour duty)."""


def _common_step_options(mode: str) -> list[Any]:
    options = [
        click.option("--location", required=True, type=TEXT, help="Where the step happens."),
        click.option("--occurred-at", "when", metavar="TIME",
                     help="When it happened, RFC 3339 with offset (default: now)."),
        click.option("--note", default=None, type=NOTE,
                     help="Free text kept with the step (one line)."),
        click.option("--evidence", multiple=True, type=DIGEST,
                     help="SHA-256 of a photo or CCTV clip (never the file); repeat."),
        click.option("--acknowledge-violation", "acknowledge", metavar="REASON", default=None,
                     type=TEXT,
                     help="Record the step even though it breaks a rule; the reason is kept and "
                          "every verifier flags it."),
    ]
    if mode == "record":
        options += [keyfile_option("--sign", "keyfiles", multiple=True, required=True,
                                   help="Key file of one person present; repeat for everyone."),
                    passphrase_files_option(), receipt_option]
    else:
        options += [click.option("--attendee", "attendees", multiple=True, required=True, type=ID,
                                 help="Person id of someone present; repeat for everyone."),
                    click.option("--out", required=True,
                                 type=click.Path(dir_okay=False, path_type=Path),
                                 help="Draft file to write.")]
    return options


def _step_command(step: Step, mode: str, name: str, shown_as: str) -> click.Command:
    def callback(ctx: click.Context, **o: Any) -> None:
        app = _ledger(ctx, read_only=mode == "draft")  # a draft is a file, not a database write
        app.ledger()
        stream = step.stream(o)
        if "corrects" in o:
            o["_event_hash"] = app.event_hash(stream, o["corrects"])
        options = {"acknowledge": o["acknowledge"], "note": o["note"], "evidence": o["evidence"]}
        when = occurred_at(o["when"], app.clock)
        if mode == "record":
            signers = unlock_signers(o["keyfiles"], o["passphrase_files"])
            _print_receipt(app.record_step(stream, step.event_type, step.fields(o),
                                           o["location"], when, signers, **options))
            return
        if o["out"].exists():
            raise InputError(f"{o['out']} already exists; choose another --out")
        body = app.draft_step(stream, step.event_type, step.fields(o), o["location"],
                              o["attendees"], when, **options)
        o["out"].write_text(format_draft(body, {}), encoding="utf-8")
        _say(f"wrote draft {o['out']}: {body['type']} for {stream}, step {body['seq']}; "
                   f"to be signed by {', '.join(a['person'] for a in body['attendees'])}")

    signing = "--sign pol01.key --sign pol02.key ... (everyone present)" if mode == "record" \
        else "--attendee POL-01 --attendee POL-02 ... --out step.draft"
    epilog = SHOWN.format(command=shown_as, example=step.example, signing=signing)
    function = click.pass_context(callback)
    for option in reversed([*step.options, *_common_step_options(mode)]):
        function = option(function)
    return click.command(name, help=step.help, epilog=epilog)(function)


_GROUPS = {"duty-start": (duty, "start"), "duty-end": (duty, "end"), "patrol": (main, "patrol")}
for _step in STEPS:
    _group, _name = _GROUPS.get(_step.name, (record, _step.name))
    _shown = _name if _group is main else f"{_group.name} {_name}"
    _group.add_command(_step_command(_step, "record", _name, _shown))
    draft.add_command(_step_command(_step, "draft", _step.name, f"draft {_step.name}"))


@main.command("sign", epilog="Example: custody sign handover.draft --key pol01.key")
@click.argument("draft_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@keyfile_option("--key", help="Your private key file.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Passphrase of the key, for scripts (default: prompt).")
@click.option("--yes", is_flag=True, help="Sign without asking (after showing the step).")
@click.pass_context
def sign(ctx: click.Context, draft_file: Path, key: Path, passphrase_file: Path | None,
         yes: bool) -> None:
    """Add your signature to a draft, after reading exactly what you are signing."""
    body, signatures = parse_draft(read_bounded(draft_file, MAX_DRAFT, "draft"), source=str(draft_file))
    app = _ledger(ctx, read_only=True)
    # Refuse what submit would refuse against the ledger as it stands (an edited count or
    # seal, a holder who does not hold the lot, a stale head) before anyone signs it.
    warnings = app.check_draft(body)
    signer = unlock_signers([key], [passphrase_file] if passphrase_file else [])[0]
    click.echo(render.describe(body))
    for warning in warnings:
        click.echo(render.visible(f"  warning: {warning.code}: {warning.message}"))
    if not yes and not click.confirm(f"Sign this as {signer.person_id}?", err=True):
        raise InputError("not signed: you declined")
    signatures[signer.person_id] = app.sign(body, signer)
    _write_atomically(draft_file, format_draft(body, signatures))
    attendees = [a["person"] for a in body["attendees"]]
    missing = [p for p in attendees if p not in signatures]
    _say(f"signed by {signer.person_id}; {len(attendees) - len(missing)} of "
               f"{len(attendees)} attendees have signed"
               + (f" (still to sign: {', '.join(missing)})" if missing else "; ready to submit"))


@main.command("submit", epilog="Example: custody submit handover.draft")
@click.argument("draft_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@receipt_option
@click.pass_context
def submit(ctx: click.Context, draft_file: Path) -> None:
    """Check a signed draft against the rules and append it to the ledger."""
    body, signatures = parse_draft(read_bounded(draft_file, MAX_DRAFT, "draft"), source=str(draft_file))
    _print_receipt(_ledger(ctx).submit(body, signatures))


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# -- packing, rooms, policy ---------------------------------------------------------------


def _pack_command(unpack: bool) -> click.Command:
    verb = "unpack" if unpack else "pack"

    def callback(ctx: click.Context, container: str, lot_ids: Sequence[str], location: str,
                 when: str | None, keyfiles: Sequence[Path], passphrase_files: Sequence[Path],
                 note: str | None) -> None:
        app = _ledger(ctx)
        app.ledger()
        moment_ = occurred_at(when, app.clock)
        signers = unlock_signers(keyfiles, passphrase_files)
        for receipt in app.pack(container, list(lot_ids), unpack, location, moment_, signers,
                                note=note):
            _print_receipt(receipt)

    function: Any = click.pass_context(callback)
    function = step_options(function)
    function = click.option("--lot", "lot_ids", multiple=True, required=True, type=ID,
                            help=f"Lot to {verb}; repeat.")(function)
    function = click.argument("container", type=ID)(function)
    help_text = ("Take lots out of a container; they pass to whoever holds the container."
                 if unpack else "Pack lots into a container; they move with it until unpacked.")
    epilog = (f"Example: custody lot {verb} BOX-01 --lot MATH-Q-0001 --lot MATH-A-0001 "
              "--location 'Printing house' --sign pol01.key ...")
    return click.command(verb, help=help_text, epilog=epilog)(function)


lot.add_command(_pack_command(unpack=False))
lot.add_command(_pack_command(unpack=True))


@main.group()
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
    app = _ledger(ctx)
    app.ledger()
    signers = _authority(authority_keys, passphrase_files)
    _print_receipt(app.register_room(room_data, signers, occurred_at(when, app.clock)))


@main.group()
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
    app = _ledger(ctx)
    app.ledger()
    signers = _authority(authority_keys, passphrase_files)
    _print_receipt(app.set_policy(new_policy, signers, occurred_at(when, app.clock)))
    _say(f"policy {new_policy.id} v{new_policy.version} is in force")


# -- reading -------------------------------------------------------------------------------


@main.command(epilog="""\b
Examples:
  custody verify
  custody verify --lot MATH-01 --json > report.json
  custody verify --as-of 2026-06-07T14:05:00+08:00""")
@click.option("--lot", "lot_id", default=None, type=ID,
              help="Verify one lot (and the roster it relies on); a lot with no stored step is "
                   "a usage error.")
@click.option("--since", type=click.IntRange(1), default=1, metavar="POSITION",
              help="Report from this log position on (past the last one is a usage error). "
              "Earlier events are folded to rebuild the state; of them, only roster and "
              "authority signatures are checked again.")
@click.option("--as-of", "as_of", default=None, metavar="TIME",
              help="Verify the ledger as it stood at TIME: leave out what occurred later.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON "
              "(shape: schemas/report.schema.json).")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes that decode rows and verify signatures (default: all cores).")
@click.option("--checkpoint", "checkpoint_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A signed checkpoint kept from earlier: the log must still hold what it "
                   "commits to. Repeat.")
@click.option("--receipt", "receipt_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A receipt (c2sp.org/tlog-proof): its event must still be at its index. "
                   "Repeat.")
@click.option("--projections", is_flag=True,
              help="Also rebuild the view (status, history, presence) from the events, in "
                   "memory, and compare it with the stored one: PROJECTION_MISMATCH names the "
                   "first differing lot or step, PROJECTION_BEHIND says it lags the log.")
@click.pass_context
def verify(ctx: click.Context, lot_id: str | None, since: int, as_of: str | None,
           as_json: bool, workers: int | None, checkpoint_files: Sequence[Path],
           receipt_files: Sequence[Path], projections: bool) -> None:
    """Recompute every hash, walk every chain, verify every signature and rule; recompute the
    Merkle tree and check every stored checkpoint (and any given) against it.

    Reads every row of the log, whatever its position, and never writes to the database.
    The verification never reads the view; --projections compares it afterwards."""
    from ledger.verify.log import Evidence

    evidence = [Evidence(str(p), read_bounded(p, 1 << 20, "checkpoint")) for p in checkpoint_files]
    evidence += [Evidence(str(p), read_bounded(p, 1 << 20, "receipt"), receipt=True)
                 for p in receipt_files]
    verifier = _run_verifier(ctx, lot_id, since, as_of, workers, show_bar=not as_json,
                             evidence=evidence)
    report = verifier.report
    if projections:
        from ledger.projections.compare import compare

        report.extend(compare(_ledger(ctx, read_only=True)))
    if as_json:
        click.echo(render.json_text(report.to_data()))
    else:
        click.echo(render.report(report, verifier.label))
    if not report.intact:
        ctx.exit(EXIT_FINDINGS)


def _run_verifier(ctx: click.Context, lot_id: str | None, since: int, as_of: str | None,
                  workers: int | None, *, show_bar: bool, evidence: Sequence[Any] = ()) -> Any:
    from ledger.verify import Verifier

    app = _ledger(ctx, read_only=True)
    # A typo must not get a clean bill: a lot or a position that is not there is no verdict.
    if lot_id is not None and not app.has_stream(lot_stream(lot_id)):
        raise InputError(f"--lot {lot_id}: no lot {lot_id} is stored in {app.backend.label}; "
                         "check the lot id ('custody status' lists the lots)")
    last = app.last_position() or 0
    if since > 1 and since > last:
        raise InputError(f"--since {since} is past the end of the log (its last position is "
                         f"{last}): there is nothing from there on to verify")
    verifier = Verifier(app.recorder, workers=workers or os.cpu_count() or 1, lot=lot_id,
                        since=since, as_of=moment(as_of, "--as-of") if as_of is not None else None,
                        now=app.clock(), evidence=evidence)
    ctx.call_on_close(verifier.close)  # its temporary file of per-stream state
    with click.progressbar(length=verifier.total(), label="verifying", file=render.stderr(),
                           hidden=not (show_bar and render.stderr_is_terminal())) as bar:
        verifier.report = verifier.run(progress=bar.update)
    verifier.label = app.backend.label
    return verifier


@main.command(epilog="Example: custody demo --dir ./demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where to put keys and the ledger (default: a new temp folder).")
def demo(directory: Path | None) -> None:
    """Record a realistic exam morning into SQLite, then verify the chain."""
    from cli.demo import run_demo

    run_demo(directory)


# Command groups kept in modules of their own (one room of the CLI each).
from cli.authority import authority  # noqa: E402  (they use this module's helpers)

main.add_command(authority)

from cli.copy import copy_command  # noqa: E402  (its own module; registered on the main group)

main.add_command(copy_command)

# The transparency log's commands live in their own module (cli/log.py).
from cli import log as _log  # noqa: E402

_log.register(main, _ledger, authority_options, _authority, _public_key_of, _print_receipt)

from cli import views  # noqa: E402,F401 - registers status, history, presence, projections

from cli import witness as _witness  # noqa: E402  (its own module; registered on the main group)

_witness.register(main, _ledger)
