"""`custody demo`: one exam day, recorded through the real commands, then verified.

The steps run through the very ``custody`` command the demo was started from (its click
context hands it over): this module never imports the CLI's entry point.

Keys are real and encrypted (passphrases in 0600 files, as a script would keep them), the
ledger is a real SQLite file, and every step goes through the same CLI an officer uses.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from cli import i18n
from cli.errors import LedgerFailure
from ledger.storage.files import write_file

AUTHORITY = ("AUTH-01", "Provincial Examination Authority", "authority", "Provincial Exam Office")
PEOPLE = [
    ("POL-01", "Wang Qiang", "police", "City Public Security Bureau (escort)"),
    ("POL-02", "Zhao Lei", "police", "City Public Security Bureau (escort)"),
    ("POL-03", "Qian Jun", "police", "County Public Security Bureau (night duty)"),
    ("STF-01", "Chen Hua", "staff", "Provincial Printing House"),
    ("STF-02", "Liu Yang", "staff", "City Exam Office (escort leader)"),
    ("STF-03", "Huang Min", "staff", "County Secure Room 3 (keeper)"),
    ("STF-04", "Zhou Jie", "staff", "County Secure Room 3 (keeper)"),
    ("STF-05", "Wu Fang", "staff", "No. 1 Middle School exam site (chief)"),
    ("STF-06", "Sun Li", "staff", "City Exam Office (records)"),
    ("INS-01", "Zheng Yu", "inspector", "City Discipline Inspection Office"),
]
Q, A, BOX = "MATH-Q-0001", "MATH-A-0001", "BOX-0001"
LEDGER = "gd-gaokao-2026"  # the ledger's id, and the name of its log key (it signs checkpoints)
DAY, NIGHT = "2026-06-06", "2026-06-07"


def t(day: str, hhmm: str) -> list[str]:
    return ["--occurred-at", f"{day}T{hhmm}:00+08:00"]


class Demo:
    """Runs each step through ``custody``, the command the demo was launched from."""

    def __init__(self, folder: Path, custody: click.Command) -> None:
        self.folder = folder
        self.db = folder / "custody.db"
        self.custody = custody

    def key(self, person_id: str) -> Path:
        return self.folder / f"{person_id.lower()}.key"

    def secret(self, person_id: str) -> Path:
        return self.folder / f"{person_id.lower()}.pass"

    def signing(self, *people: str) -> list[str]:
        keys = [a for p in people for a in ("--sign", str(self.key(p)))]
        return keys + [a for p in people for a in ("--passphrase-file", str(self.secret(p)))]

    def authority(self) -> list[str]:
        return ["--authority-key", str(self.key(AUTHORITY[0])),
                "--passphrase-file", str(self.secret(AUTHORITY[0]))]

    def run(self, args: list[str], shown: str, *, refusal: bool = False) -> None:
        click.secho(f"$ custody {shown}", fg="cyan")
        try:
            # Each step speaks the language the demo was started in (--lang, CUSTODY_LANG).
            code = self.custody.main(["--db", str(self.db), "--lang", i18n.language(), *args],
                                     prog_name="custody",
                                     standalone_mode=False)
        except LedgerFailure as failure:
            if not refusal:
                raise
            click.secho(f"refused, as it should be (exit {failure.exit_code}): {failure.message}",
                        fg="yellow")
            return
        if refusal:
            raise click.ClickException("the demo expected a refusal that did not come")
        if code:  # click returns, not raises, a non-zero exit outside standalone mode
            raise click.ClickException(f"'custody {shown}' exited {code}; the demo stops here")

    def step(self, command: list[str], shown: str, people: tuple[str, ...], **kw: bool) -> None:
        self.run([*command, *self.signing(*people)], f"{shown} --sign <{len(people)} keys>", **kw)


@click.command(epilog="Example: custody demo --dir ./demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where to put keys and the ledger (default: a new temp folder).")
@click.pass_context
def demo(ctx: click.Context, directory: Path | None) -> None:
    """Record a realistic exam day into SQLite, then verify the chain."""
    run_demo(directory, ctx.find_root().command)


def run_demo(directory: Path | None, custody: click.Command) -> None:
    folder = Path(directory or tempfile.mkdtemp(prefix="custody-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    demo = Demo(folder, custody)
    if demo.db.exists():
        raise click.ClickException(f"{demo.db} already exists; give --dir an empty folder")
    click.secho(f"custody-ledger demo: one exam day, in {folder}", bold=True)

    click.secho("\n1. Everyone makes an encrypted key (passphrases in 0600 files for this demo);"
                " so does the log, which signs checkpoints", bold=True)
    for person_id, *_ in [AUTHORITY, *PEOPLE, (LEDGER,)]:
        try:
            write_file(demo.secret(person_id), f"demo passphrase of {person_id}\n".encode(),
                       mode=0o600, replace=False)
        except OSError as exc:
            raise click.ClickException(f"cannot write {demo.secret(person_id)}: "
                                       f"{exc.strerror or exc}; give --dir an empty folder")
        demo.run(["keys", "new", person_id, "--out", str(demo.key(person_id)),
                  "--passphrase-file", str(demo.secret(person_id))],
                 f"keys new {person_id} --out {demo.key(person_id).name}")

    click.secho("\n2. The authority starts the ledger, enrols the people, licenses the room",
                bold=True)
    demo.run(["init", "--ledger-id", LEDGER, "--name", AUTHORITY[1], "--unit",
              AUTHORITY[3], "--log-key", f"{demo.key(LEDGER)}.pub", *t("2026-06-01", "09:00"),
              *demo.authority()],
             f"init --ledger-id {LEDGER} --log-key {demo.key(LEDGER).name}.pub "
             "--authority-key auth-01.key")
    for person_id, name, role, unit in PEOPLE:
        demo.run(["person", "enrol", person_id, "--name", name, "--role", role, "--unit", unit,
                  "--public-key", f"{demo.key(person_id)}.pub", *t("2026-06-01", "09:30"),
                  *demo.authority()], f"person enrol {person_id} --role {role} ...")
    demo.run(["room", "register", "SR-3", "--name", "County Secure Room 3", "--licence",
              "BM-2026-031", "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until",
              "2026-12-31T23:59:59+08:00", *t("2026-06-01", "10:00"), *demo.authority()],
             "room register SR-3 --licence BM-2026-031 --valid-until 2026-12-31 ...")

    click.secho("\n3. Printing house: lots registered and packed, 2 police + 4 staff co-signing",
                bold=True)
    printing = ("POL-01", "POL-02", "STF-01", "STF-02", "STF-05", "STF-06")
    for lot_id, kind, count, seals in ((Q, "question_paper", "30", ["SQ-100201", "SQ-100202"]),
                                       (A, "answer_sheet", "30", ["SA-100203"]),
                                       (BOX, "container", "2", ["SB-100204"])):
        seal_args = [a for s in seals for a in ("--seal", s)]
        demo.step(["lot", "register", lot_id, "--exam", "gaokao-2026", "--subject", "math",
                   "--kind", kind, "--count", count, *seal_args, "--holder", "STF-01",
                   "--location", "Provincial Printing House", *t(DAY, "05:30")],
                  f"lot register {lot_id} --kind {kind} --count {count} {' '.join(seal_args)}",
                  printing)
    demo.step(["lot", "pack", BOX, "--lot", Q, "--lot", A, "--location",
               "Provincial Printing House", *t(DAY, "05:50")],
              f"lot pack {BOX} --lot {Q} --lot {A}", printing)
    box = ["--lot", BOX, "--seal", "SB-100204", "--count", "2"]

    click.secho("\n4. Police escort to the county secure room, 24-hour duty begins", bold=True)
    demo.step(["record", "transport-depart", *box, "--from", "STF-01", "--vehicle", "YUE-A12345",
               "--escort", "POL-01", "--escort", "POL-02", "--destination",
               "County Secure Room 3", "--location", "Printing house loading bay",
               *t(DAY, "06:10")], f"record transport-depart --lot {BOX} --vehicle YUE-A12345 ...",
              printing)
    demo.step(["duty", "start", "--room", "SR-3", "--location", "SR-3", *t(DAY, "08:00")],
              "duty start --room SR-3", ("POL-03", "STF-03", "STF-04", "STF-06"))
    arrival = ("POL-01", "POL-02", "STF-02", "STF-03", "STF-04", "STF-06")
    demo.step(["record", "transport-arrive", *box, "--vehicle", "YUE-A12345", "--to", "STF-03",
               "--location", "County Secure Room 3", *t(DAY, "08:40")],
              f"record transport-arrive --lot {BOX} --to STF-03", arrival)
    demo.step(["duty", "start", "--room", "SR-3", "--location", "SR-3", *t(DAY, "08:45")],
              "duty start --room SR-3   (the escort officer joins the day shift)", ("POL-02",))
    demo.step(["record", "store", *box, "--from", "STF-03", "--room", "SR-3", "--location",
               "County Secure Room 3", *t(DAY, "08:50")],
              f"record store --lot {BOX} --from STF-03 --room SR-3", arrival)

    click.secho("\n5. The night: shift change, a remote video patrol, and a refused shortcut",
                bold=True)
    demo.step(["duty", "start", "--room", "SR-3", "--location", "SR-3", *t(DAY, "19:50")],
              "duty start --room SR-3", ("POL-01", "STF-05"))
    demo.step(["duty", "end", "--room", "SR-3", "--location", "SR-3", *t(DAY, "20:00")],
              "duty end --room SR-3", ("STF-03",))
    demo.step(["patrol", "--room", "SR-3", "--observed", "4 on duty, 2 police; seals intact",
               "--location", "City Discipline Inspection Office", *t(DAY, "23:30")],
              "patrol --room SR-3 --observed '4 on duty, 2 police; seals intact'", ("INS-01",))
    morning = ("POL-01", "POL-03", "STF-03", "STF-04", "STF-05", "STF-06")
    retrieve = ["record", "retrieve", *box, "--room", "SR-3", "--to", "STF-05", "--location",
                "County Secure Room 3", *t(NIGHT, "06:30")]
    demo.step(retrieve, f"record retrieve --lot {BOX} --to STF-05  (only 5 present)",
              morning[:5], refusal=True)
    demo.step(retrieve, f"record retrieve --lot {BOX} --room SR-3 --to STF-05", morning)
    # The room is empty now: everyone on duty ends their shift before leaving it (a step
    # elsewhere during an open shift is impossible presence, PRESENCE_CONFLICT).
    on_duty = ("POL-01", "POL-02", "POL-03", "STF-04", "STF-05", "STF-06")
    demo.step(["duty", "end", "--room", "SR-3", "--location", "SR-3", *t(NIGHT, "06:40")],
              "duty end --room SR-3   (the room is empty; the shift leaves with the box)",
              on_duty)

    click.secho("\n6. Exam site: unpacking, distribution, unsealing, collection, return", bold=True)
    demo.step(["lot", "unpack", BOX, "--lot", Q, "--lot", A, "--location",
               "No. 1 Middle School", *t(NIGHT, "07:10")],
              f"lot unpack {BOX} --lot {Q} --lot {A}", morning)
    for lot_id, seals, hhmm in ((Q, ["SQ-100201", "SQ-100202"], "07:20"), (A, ["SA-100203"], "07:21")):
        seal_args = [a for s in seals for a in ("--seal", s)]
        demo.step(["record", "distribute", "--lot", lot_id, "--from", "STF-05", "--to",
                   "site:S01-R12", *seal_args, "--count", "30", "--location",
                   "No. 1 Middle School, exam room 12", *t(NIGHT, hhmm)],
                  f"record distribute --lot {lot_id} --from STF-05 --to site:S01-R12", morning)
    demo.step(["record", "unseal", "--lot", Q, "--seal", "SQ-100201", "--seal", "SQ-100202",
               "--count", "30", "--location", "Exam room 12", *t(NIGHT, "08:45")],
              f"record unseal --lot {Q}", morning)
    demo.step(["record", "collect", "--lot", A, "--from", "site:S01-R12", "--to", "STF-05",
               "--count", "30", "--new-seal", "SA-900001", "--location", "Exam room 12",
               *t(NIGHT, "11:40")],
              f"record collect --lot {A} --count 30 --new-seal SA-900001", morning)
    demo.step(["record", "return", "--lot", A, "--from", "STF-05", "--to", "site:SCAN-01",
               "--seal", "SA-900001", "--count", "30", "--location", "City scanning centre",
               *t(NIGHT, "14:00")], f"record return --lot {A} --to site:SCAN-01", morning)
    demo.step(["record", "zero-report", "ZR-S01-0607", "--scope", "No. 1 Middle School",
               "--since", f"{NIGHT}T07:00:00+08:00", "--until", f"{NIGHT}T12:00:00+08:00",
               "--location", "No. 1 Middle School", *t(NIGHT, "12:05")],
              "record zero-report ZR-S01-0607 --scope 'No. 1 Middle School'", ("STF-05",))

    click.secho("\n7. A discipline inspector reads a lot's history; where is everything now?",
                bold=True)
    demo.run(["history", A], f"history {A}")
    demo.run(["status", "--verified"], "status --verified")

    click.secho("\n8. The log signs a checkpoint; an auditor verifies the whole chain against it",
                bold=True)
    log_key = ["--key", str(demo.key(LEDGER)), "--passphrase-file", str(demo.secret(LEDGER))]
    demo.run(["checkpoint", *log_key], f"checkpoint --key {demo.key(LEDGER).name}")
    demo.run(["verify"], "verify")

    click.secho("\n9. For a committee with no database: a report, and an evidence bundle checked "
                "offline", bold=True)
    report, bundle = folder / "report.html", folder / f"{A}.bundle"
    demo.run(["report", "--out", str(report)], f"report --out {report.name}")
    demo.run(["export", str(bundle), "--lot", A], f"export {bundle.name} --lot {A}")
    demo.run(["verify-bundle", str(bundle), "--trust", f"{demo.key(AUTHORITY[0])}.pub",
              "--log-key", f"{demo.key(LEDGER)}.pub"],
             f"verify-bundle {bundle.name} --trust {demo.key(AUTHORITY[0]).name}.pub "
             f"--log-key {demo.key(LEDGER).name}.pub")
    click.secho(f"\nThe ledger is {demo.db}, the report {report}; try: custody --db {demo.db} "
                f"replay --lot {A}", bold=True)
