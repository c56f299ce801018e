"""Co-signed steps: `lot register|pack|unpack`, `record …`, `draft …`, `duty …`, `patrol`,
`sign`, `submit`."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, Sequence

import click

from cli import render
from cli.options import (
    DIGEST,
    ID,
    NOTE,
    TEXT,
    confirm,
    occurred_at,
    read_bounded,
    receipt_option,
    require_keys_of,
    unlock_signers,
)
from cli.i18n import _, translated
from cli.names import HOLDER, LOT, PERSON
from cli.steps import SHOWN, STEPS, Step, example_lines
from ledger.application.drafts import MAX_DRAFT, format_draft, parse_draft
from ledger.core.errors import InputError
from ledger.core.text import Message
from ledger.storage.files import write_file
from cli.context import (
    keyfile_option,
    place_option,
    ledger_of,
    passphrase_files_option,
    print_receipt,
    say,
    step_options,
)

KINDS = ("question_paper", "answer_sheet", "spare_paper", "container")


@click.group()
def lot() -> None:
    """Register lots of papers."""


@lot.command("register", epilog="""\b
Example:
  custody lot register MATH-01 --exam gaokao-2026 --subject math --kind question_paper \\
      --count 30 --seal S-0001 --seal S-0002 --location "Printing house" --holder P-003 \\
      --sign p001.key --sign p002.key --sign p003.key \\
      --sign p004.key --sign p005.key --sign p006.key""")
@click.argument("lot_id", type=ID)
@click.option("--exam", required=True, type=ID, help="Examination (an id), e.g. gaokao-2026.")
@click.option("--subject", required=True, type=TEXT, help="Subject, e.g. math.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="Kind of papers.")
@click.option("--count", required=True, type=click.IntRange(1, 1_000_000), help="Number of items.")
@click.option("--seal", "seals", multiple=True, required=True, type=ID,
              help="Seal number; repeat for each.")
@click.option("--holder", required=True, type=HOLDER,
              help="Who takes custody at registration: a person id, or room:ID / vehicle:ID / "
                   "site:ID.")
@step_options
@click.pass_context
def lot_register(ctx: click.Context, lot_id: str, exam: str, subject: str, kind: str, count: int,
                 seals: Sequence[str], holder: str | None, place: str | None, location: str,
                 when: str | None, keyfiles: Sequence[Path], passphrase_files: Sequence[Path],
                 note: str | None) -> None:
    """Register LOT_ID, co-signed by the people present."""
    app = ledger_of(ctx)
    app.ledger()
    signers = unlock_signers(keyfiles, passphrase_files)
    lot_data = {"id": lot_id, "exam": exam, "subject": subject, "kind": kind, "count": count,
                "seals": sorted(seals)}
    receipt = app.register_lot(lot_data, location, occurred_at(when, app.clock), signers,
                               holder=holder, note=note, place=place)
    print_receipt(receipt)


class StepGroup(click.Group):
    """A group of step commands (``record``, ``draft``, ``duty``), each made from its
    ``Step`` when it is first asked for: recording one step builds one command, not the
    thirty (their ~420 options cost a recording command ~4 ms)."""

    def __init__(self, *args: Any, mode: str = "record", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = mode
        self.steps: dict[str, Step] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.steps))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.steps:
            self.add_command(_step_command(self.steps[cmd_name], self.mode, cmd_name,
                                           f"{self.name} {cmd_name}"))
        return self.commands.get(cmd_name)


@click.group(cls=StepGroup)
def record() -> None:
    """Record a step, co-signed on this terminal by everyone present (--sign per person)."""


@click.group(cls=StepGroup, mode="draft")
def draft() -> None:
    """Write a step as an unsigned draft file, for each attendee to sign on their own device."""


@click.group(cls=StepGroup)
def duty() -> None:
    """Start or end a duty shift in a secure room (24-hour duty)."""


def _common_step_options(mode: str, step: Step) -> list[Any]:
    # A store, a retrieval and a duty shift happen in their secure room: that is their place,
    # and its registered name the default location.
    options = [] if step.in_room else [place_option()]
    options += [
        click.option("--location", required=not step.in_room, type=TEXT,
                     help="Where the step happens" + (" (default: the secure room's "
                                                      "registered name)." if step.in_room
                                                      else ".")),
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
        options += [click.option("--attendee", "attendees", multiple=True, required=True,
                                 type=PERSON,
                                 help="Person id of someone present; repeat for everyone."),
                    click.option("--out", required=True,
                                 type=click.Path(dir_okay=False, path_type=Path),
                                 help="Draft file to write.")]
    return options


def _step_command(step: Step, mode: str, name: str, shown_as: str) -> click.Command:
    def callback(ctx: click.Context, **o: Any) -> None:
        app = ledger_of(ctx, read_only=mode == "draft")  # a draft is a file, not a database write
        app.ledger()
        if o["location"] is None:  # a step in a secure room takes place there (Step.in_room)
            room = app.room(o["room"])
            o["location"] = room.name if room is not None else o["room"]
        stream = step.stream(o)
        if "corrects" in o:
            o["_event_hash"] = app.event_hash(stream, o["corrects"])
        options = {"acknowledge": o["acknowledge"], "note": o["note"], "evidence": o["evidence"],
                   "place": o.get("place")}
        when = occurred_at(o["when"], app.clock)
        if mode == "record":
            signers = unlock_signers(o["keyfiles"], o["passphrase_files"])
            print_receipt(app.record_step(stream, step.event_type, step.fields(o),
                                           o["location"], when, signers, **options))
            return
        if o["out"].exists():
            raise InputError(f"{o['out']} already exists; choose another --out")
        body = app.draft_step(stream, step.event_type, step.fields(o), o["location"],
                              o["attendees"], when, **options)
        try:
            write_file(o["out"], format_draft(body, {}).encode("utf-8"), replace=False)
        except FileExistsError:
            raise InputError(f"{o['out']} already exists; choose another --out") from None
        except OSError as exc:
            raise InputError(f"cannot write the draft {o['out']}: "
                             f"{exc.strerror or exc}") from None
        say(_("wrote draft {out}: {event_type} for {stream}, step {seq}; to be signed by "
              "{people}").format(out=o["out"], event_type=body["type"], stream=stream,
                                 seq=body["seq"],
                                 people=", ".join(a["person"] for a in body["attendees"])))

    signing = "--sign pol01.key --sign pol02.key ... (everyone present)" if mode == "record" \
        else "--attendee POL-01 --attendee POL-02 ... --out step.draft"
    epilog = SHOWN.format(example=example_lines(f"custody {shown_as} {step.example}"),
                          signing=signing)
    function = click.pass_context(callback)
    for option in reversed([*step.options, *_common_step_options(mode, step)]):
        function = option(function)
    return click.command(name, help=step.help, epilog=epilog)(function)


# Every step is a `record` command and a `draft` command; duty shifts sit under `duty`, and
# a patrol (one inspector, remote) is a top-level command of its own.
patrol: click.Command
_GROUPS = {"duty-start": (duty, "start"), "duty-end": (duty, "end")}
for _step in STEPS:
    if _step.name == "patrol":
        patrol = _step_command(_step, "record", "patrol", "patrol")
    else:
        _group, _name = _GROUPS.get(_step.name, (record, _step.name))
        _group.steps[_name] = _step
    draft.steps[_step.name] = _step


@click.command("sign", epilog="Example: custody sign handover.draft --key pol01.key")
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
    app = ledger_of(ctx, read_only=True)
    # Refuse what submit would refuse against the ledger as it stands (an edited count or
    # seal, a holder who does not hold the lot, a stale head) before anyone signs it.
    warnings = app.check_draft(body)
    require_keys_of([key], [a["person"] for a in body.get("attendees", [])],
                    Message("among this step's attendees"))
    signer = unlock_signers([key], [passphrase_file] if passphrase_file else [])[0]
    click.echo(render.describe(body))
    for warning in warnings:
        click.echo(render.visible("  " + render.warning_line(warning)))
    if not yes and not confirm(f"Sign this as {signer.person_id}?", "--yes"):
        raise InputError("not signed: you declined")
    signatures[signer.person_id] = app.sign(body, signer)
    try:  # the draft keeps the mode it was written with
        write_file(draft_file, format_draft(body, signatures).encode("utf-8"),
                   mode=stat.S_IMODE(draft_file.stat().st_mode))
    except OSError as exc:
        raise InputError(f"cannot write the signed draft {draft_file}: "
                         f"{exc.strerror or exc}") from None
    attendees = [a["person"] for a in body["attendees"]]
    missing = [p for p in attendees if p not in signatures]
    say(_("signed by {person}; {signed} of {attendees} attendees have signed").format(
            person=signer.person_id, signed=len(attendees) - len(missing),
            attendees=len(attendees))
        + (_(" (still to sign: {people})").format(people=", ".join(missing)) if missing
           else _("; ready to submit")))


@click.command("submit", epilog="Example: custody submit handover.draft")
@click.argument("draft_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@receipt_option
@click.pass_context
def submit(ctx: click.Context, draft_file: Path) -> None:
    """Check a signed draft against the rules and append it to the ledger."""
    body, signatures = parse_draft(read_bounded(draft_file, MAX_DRAFT, "draft"), source=str(draft_file))
    print_receipt(ledger_of(ctx).submit(body, signatures))


def _pack_command(unpack: bool) -> click.Command:
    verb = "unpack" if unpack else "pack"

    def callback(ctx: click.Context, container: str, lot_ids: Sequence[str], place: str | None,
                 location: str, when: str | None, keyfiles: Sequence[Path],
                 passphrase_files: Sequence[Path], note: str | None) -> None:
        app = ledger_of(ctx)
        app.ledger()
        moment_ = occurred_at(when, app.clock)
        signers = unlock_signers(keyfiles, passphrase_files)
        for receipt in app.pack(container, list(lot_ids), unpack, location, moment_, signers,
                                note=note, place=place):
            print_receipt(receipt)

    function: Any = click.pass_context(callback)
    function = step_options(function)
    function = click.option("--lot", "lot_ids", multiple=True, required=True, type=LOT,
                            help=f"Lot to {verb}; repeat.")(function)
    function = click.argument("container", type=LOT)(function)
    help_text = ("Take lots out of a container; they pass to whoever holds the container."
                 if unpack else "Pack lots into a container; they move with it until unpacked.")
    epilog = (f"\b\nExample:\n  custody lot {verb} BOX-01 --lot MATH-Q-0001 --lot MATH-A-0001 "
              "\\\n      --location 'Printing house' --sign pol01.key ...")
    return click.command(verb, help=help_text, epilog=epilog)(function)


lot.add_command(_pack_command(unpack=False))
lot.add_command(_pack_command(unpack=True))
