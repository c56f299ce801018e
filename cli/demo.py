"""`custody demo`: one exam morning, recorded through the real commands, then verified.

Keys are real and encrypted (passphrases in 0600 files, as a script would keep them), the
ledger is a real SQLite file, and every step goes through the same CLI an officer uses.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from cli.errors import LedgerFailure

AUTHORITY = ("AUTH-01", "Provincial Examination Authority", "authority", "Provincial Exam Office")
PEOPLE = [
    ("POL-01", "Wang Qiang", "police", "City Public Security Bureau"),
    ("POL-02", "Zhao Lei", "police", "City Public Security Bureau"),
    ("STF-01", "Chen Hua", "staff", "Provincial Printing House"),
    ("STF-02", "Liu Yang", "staff", "City Exam Office (escort leader)"),
    ("STF-03", "Huang Min", "staff", "County Secure Room 3 (keeper)"),
    ("STF-04", "Zhou Jie", "staff", "County Secure Room 3 (keeper)"),
    ("STF-05", "Wu Fang", "staff", "No. 1 Middle School exam site (chief)"),
    ("STF-06", "Sun Li", "staff", "City Exam Office (records)"),
]
LOTS = [
    ("MATH-Q-0001", "question_paper", 30, ["SEAL-100201", "SEAL-100202"]),
    ("MATH-A-0001", "answer_sheet", 30, ["SEAL-100203"]),
    ("MATH-S-0001", "spare_paper", 2, ["SEAL-100204"]),
]
PRINT_TEAM = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-06"]
ROOM_TEAM = ["POL-01", "POL-02", "STF-03", "STF-04", "STF-05", "STF-06"]
# (from, to, where, when, who co-signs)
HANDOVERS = [
    ("STF-01", "STF-02", "Provincial Printing House, loading bay", "2026-06-06T06:10:00+08:00", PRINT_TEAM),
    ("STF-02", "STF-03", "County Secure Room 3", "2026-06-06T08:40:00+08:00", PRINT_TEAM),
    ("STF-03", "STF-05", "County Secure Room 3", "2026-06-07T06:30:00+08:00", ROOM_TEAM),
]


class Demo:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "custody.db"

    def key(self, person_id: str) -> Path:
        return self.folder / f"{person_id.lower()}.key"

    def secret(self, person_id: str) -> Path:
        return self.folder / f"{person_id.lower()}.pass"

    def signing(self, people: list[str]) -> list[str]:
        args = []
        for person_id in people:
            args += ["--sign", str(self.key(person_id))]
        for person_id in people:
            args += ["--passphrase-file", str(self.secret(person_id))]
        return args

    def run(self, args: list[str], shown: str | None = None, *, expect_refusal: bool = False) -> None:
        from cli.main import main

        click.secho(f"$ custody {shown or ' '.join(args)}", fg="cyan")
        try:
            main.main(["--db", str(self.db), *args], prog_name="custody", standalone_mode=False)
        except LedgerFailure as failure:
            if not expect_refusal:
                raise
            click.secho(f"refused, as it should be (exit {failure.exit_code}): {failure.message}",
                        fg="yellow")
            return
        if expect_refusal:
            raise click.ClickException("the demo expected a refusal that did not come")


def run_demo(directory: Path | None) -> None:
    folder = Path(directory or tempfile.mkdtemp(prefix="custody-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    demo = Demo(folder)
    if demo.db.exists():
        raise click.ClickException(f"{demo.db} already exists; give --dir an empty folder")
    click.secho(f"custody-ledger demo in {folder}", bold=True)

    click.secho("\n1. Everyone makes an encrypted key (passphrases kept in 0600 files for this demo)",
                bold=True)
    for person_id, *_ in [AUTHORITY, *PEOPLE]:
        fd = os.open(demo.secret(person_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"demo passphrase of {person_id}\n")
        demo.run(["keys", "new", person_id, "--out", str(demo.key(person_id)),
                  "--passphrase-file", str(demo.secret(person_id))],
                 f"keys new {person_id} --out {demo.key(person_id).name}")

    auth = AUTHORITY[0]
    authority = ["--authority-key", str(demo.key(auth)), "--passphrase-file", str(demo.secret(auth))]
    click.secho("\n2. The authority starts the ledger and enrols the people on duty", bold=True)
    demo.run(["init", "--ledger-id", "gd-gaokao-2026", "--name", AUTHORITY[1], "--unit", AUTHORITY[3],
              "--occurred-at", "2026-06-01T09:00:00+08:00", *authority],
             f"init --ledger-id gd-gaokao-2026 --authority-key {demo.key(auth).name}")
    for person_id, name, role, unit in PEOPLE:
        demo.run(["person", "enrol", person_id, "--name", name, "--role", role, "--unit", unit,
                  "--public-key", f"{demo.key(person_id)}.pub",
                  "--occurred-at", "2026-06-01T09:30:00+08:00", *authority],
                 f"person enrol {person_id} --name '{name}' --role {role} ...")

    click.secho("\n3. Papers are registered at the printing house, 2 police + 4 staff co-signing",
                bold=True)
    for lot_id, kind, count, seals in LOTS:
        seal_args = [a for s in seals for a in ("--seal", s)]
        demo.run(["lot", "register", lot_id, "--exam", "gaokao-2026", "--subject", "math",
                  "--kind", kind, "--count", str(count), *seal_args, "--holder", "STF-01",
                  "--location", "Provincial Printing House", "--occurred-at",
                  "2026-06-06T05:30:00+08:00", *demo.signing(PRINT_TEAM)],
                 f"lot register {lot_id} --kind {kind} --count {count} {' '.join(seal_args)} "
                 f"--holder STF-01 --sign <6 keys>")

    click.secho("\n4. Each handover is co-signed by everyone present", bold=True)
    first_lot, _, first_count, first_seals = LOTS[0]
    giver, receiver, where, when, team = HANDOVERS[0]
    short = [s for s in team if s != "STF-06"]
    demo.run(["record", "handover", "--lot", first_lot, "--from", giver, "--to", receiver,
              *[a for s in first_seals for a in ("--seal", s)], "--count", str(first_count),
              "--location", where, "--occurred-at", when, *demo.signing(short)],
             f"record handover --lot {first_lot} --from {giver} --to {receiver} ... "
             "--sign <only 5 keys>", expect_refusal=True)
    for giver, receiver, where, when, team in HANDOVERS:
        for lot_id, _, count, seals in LOTS:
            seal_args = [a for s in seals for a in ("--seal", s)]
            demo.run(["record", "handover", "--lot", lot_id, "--from", giver, "--to", receiver,
                      *seal_args, "--count", str(count), "--location", where,
                      "--occurred-at", when, *demo.signing(team)],
                     f"record handover --lot {lot_id} --from {giver} --to {receiver} "
                     f"--location '{where}' --occurred-at {when} --sign <6 keys>")

    click.secho("\n5. A discipline inspector reads one lot's history", bold=True)
    demo.run(["history", first_lot])

    click.secho("\n6. An auditor verifies the whole chain", bold=True)
    demo.run(["verify"])
    click.secho(f"\nThe ledger is {demo.db}; try: custody --db {demo.db} history {LOTS[1][0]}",
                bold=True)
