"""Kill -9 a writer at a random moment, again and again, and check what the ledger kept.

Each cycle runs one of four writers and SIGKILLs it (its whole process group) after a random
delay:

- ``record``: ``custody record handover`` in a subprocess (one step, one transaction);
- ``submit``: ``custody submit step.draft`` of a draft signed beforehand by all six;
- ``handovers``: ``tests.durability.writer`` recording handovers through the API, forever;
- ``batch``: the same writer packing and unpacking three bags, one transaction of three events.

A step counts as acknowledged when its writer printed its receipt: the CLI's "event hash"
line, or the writer's ``ACK`` line, complete with its newline. Every step carries a unique
note, so after each kill the checker reads the whole log and counts each note: an
acknowledged step must be there exactly once (all three events of a batch), an
unacknowledged one once or not at all, never in part; ``Verifier(...).run()`` must say
intact, SQLite's ``integrity_check`` must say ok, and the next cycle's command must work on
the database exactly as the kill left it.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from ledger.application.custody import open_ledger
from ledger.application.drafts import format_draft
from ledger.verify import Verifier
from tests.conftest import SEALS, TEAM
from tests.durability import ledger

ROOT = Path(__file__).resolve().parents[2]
MODES = ("record", "submit", "handovers", "batch")
CLI_LOT, SUBMIT_LOT, API_LOTS = "LOT-CLI", "LOT-SUB", ("LOT-A", "LOT-B")
LOTS = (CLI_LOT, SUBMIT_LOT, *API_LOTS)


@dataclass
class Tally:
    """What the kills did and what the ledger kept; its ``summary`` is the assertion message."""

    backend: str
    seed: int
    cycles: int = 0
    killed: int = 0  # the writer was still running when it was killed
    acknowledged: int = 0  # events whose receipt was printed
    found: int = 0  # of those, events found in the log
    unacknowledged_found: int = 0  # written, but killed before the receipt was printed
    duplicates: int = 0
    half_written: int = 0
    verified_intact: int = 0
    by_mode: Counter = field(default_factory=Counter)
    receipts: Counter = field(default_factory=Counter)  # receipts printed, by mode
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.found == self.acknowledged and not self.duplicates
                and not self.half_written and self.verified_intact == self.cycles)

    def summary(self) -> str:
        modes = ", ".join(f"{m} {self.by_mode[m]} ({self.receipts[m]} receipts)" for m in MODES)
        text = (f"{self.backend}: {self.cycles} kill cycles (seed {self.seed}; {modes}; "
                f"{self.killed} killed mid-command); {self.acknowledged} events acknowledged, "
                f"{self.found} of them found, {self.unacknowledged_found} more written but not "
                f"acknowledged; duplicates {self.duplicates}; half-written transactions "
                f"{self.half_written}; verify intact after {self.verified_intact} of "
                f"{self.cycles} kills")
        return text + "".join(f"\n  problem: {p}" for p in self.problems[:10])


class CrashRun:
    """A ledger, a keyring, and the steps written to it so far, kill after kill."""

    def __init__(self, db: str, folder: Path, backend: str, seed: int) -> None:
        self.db, self.folder = db, folder
        self.rng = random.Random(seed)
        self.tally = Tally(backend, seed)
        self.keys = ledger.write_keyring(folder / "keys")
        self.expected: dict[str, int] = {}  # note -> events in its transaction
        self.acked: set[str] = set()
        self.cli_seconds: list[float] = [1.0]  # how long a finished CLI command took
        ledger.create(db, LOTS)

    # -- one cycle -------------------------------------------------------------------------

    def cycle(self) -> None:
        n = self.tally.cycles
        mode = MODES[n % len(MODES)]
        self.tally.cycles += 1
        self.tally.by_mode[mode] += 1
        if mode in ("record", "submit"):
            self._command(n, mode)
        else:
            self._writer(n, mode)
        self.check(f"cycle {n} ({mode})")

    def _command(self, n: int, mode: str) -> None:
        note = f"c{n}"
        self.expected[note] = 1
        if mode == "record":
            with closing(open_ledger(self.db)) as app:
                fields = ledger.handover_fields(app, CLI_LOT)
            args = ["record", "handover", "--lot", CLI_LOT, "--from", fields["from"],
                    "--to", fields["to"], "--count", "30", "--location", "Secure room 1",
                    "--note", note]
            for seal in SEALS:
                args += ["--seal", seal]
            for person in TEAM:
                args += ["--sign", str(self.keys / f"{person}.key")]
        else:
            draft = self.folder / f"{note}.draft"
            with closing(open_ledger(self.db)) as app:
                fields = ledger.handover_fields(app, SUBMIT_LOT)
                body = app.draft_step(f"lot:{SUBMIT_LOT}", "lot.handed_over", fields,
                                      "Secure room 1", TEAM, app.clock(), note=note)
                signatures = {s.person_id: app.sign(body, s) for s in ledger.signers(*TEAM)}
            draft.write_text(format_draft(body, signatures), encoding="utf-8")
            args = ["submit", str(draft)]
        # Kill somewhere between start-up and a little after a typical finish.
        delay = self.rng.uniform(0.3, 1.2) * statistics.median(self.cli_seconds)
        began = time.monotonic()
        process = self._spawn([sys.executable, "-m", "cli", "--db", self.db, *args])
        killed = self._kill_after(process, delay)
        out, err = process.communicate()
        if killed:
            # Let the estimate grow until some commands finish: then about one in five runs
            # to its receipt, and the rest die at every point from start-up to the commit.
            self.cli_seconds.append(delay * 1.6)
        else:
            self.cli_seconds.append(time.monotonic() - began)
            if process.returncode != 0:
                self.tally.problems.append(f"cycle {n} ({mode}): exit {process.returncode} "
                                           f"without a kill: {err.strip()}")
        lines = [line for line in out.splitlines(keepends=True) if line.endswith("\n")]
        if any(line.startswith("event hash ") for line in lines):
            self.acked.add(note)
            self.tally.receipts[mode] += 1

    def _writer(self, n: int, mode: str) -> None:
        args = ["handovers", self.db, f"w{n}", "0", *API_LOTS] if mode == "handovers" \
            else ["batches", self.db, f"w{n}", "0"]
        process = self._spawn([sys.executable, "-m", "tests.durability.writer", *args])
        assert process.stdout is not None
        ready = process.stdout.readline()
        killed = self._kill_after(process, self.rng.uniform(0.0, 0.8)) if ready else False
        out, err = process.communicate()
        if not killed:
            self.tally.problems.append(f"cycle {n} ({mode}): writer ended by itself, exit "
                                       f"{process.returncode}: {err.strip()}")
        size = 1 if mode == "handovers" else len(ledger.PACKED)
        for line in out.splitlines(keepends=True):
            if line.startswith("ACK ") and line.endswith("\n"):
                self.acked.add(line.split()[1])
                self.tally.receipts[mode] += 1
        # Notes the writer may have reached: every one up to the first it never acknowledged.
        acked_here = [int(note.split("-")[1]) for note in self.acked if note.startswith(f"w{n}-")]
        for k in range(max(acked_here, default=-1) + 2):
            self.expected[f"w{n}-{k}"] = size

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})

    def _kill_after(self, process: subprocess.Popen, delay: float) -> bool:
        """SIGKILL the process group after ``delay`` s, unless it ended first; True if killed."""
        try:
            process.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            self.tally.killed += 1
            return True

    # -- after each kill -------------------------------------------------------------------

    def check(self, when: str) -> None:
        """Verify the ledger as the kill left it and count every step's note in the log."""
        with closing(open_ledger(self.db)) as app:
            report = Verifier(app.recorder, workers=1).run()
            if report.intact:
                self.tally.verified_intact += 1
            else:
                codes = sorted({f.code for f in report.errors})
                self.tally.problems.append(f"{when}: verify not intact: {codes}")
            notes = Counter(self._notes(app))
        if not self.db.startswith("postgresql://"):
            with closing(sqlite3.connect(self.db)) as raw:
                result = raw.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                self.tally.problems.append(f"{when}: SQLite integrity_check: {result}")
        acknowledged = found = unacknowledged = duplicates = half = 0
        for note, size in self.expected.items():
            count = notes.get(note, 0)
            if count > size:
                duplicates += count - size
            elif 0 < count < size:
                half += 1
            if note in self.acked:
                acknowledged += size
                found += min(count, size)
            else:
                unacknowledged += min(count, size)
        unknown = set(notes) - set(self.expected)
        if unknown:
            self.tally.problems.append(f"{when}: steps nobody wrote: {sorted(unknown)[:5]}")
        self.tally.acknowledged, self.tally.found = acknowledged, found
        self.tally.unacknowledged_found = unacknowledged
        self.tally.duplicates, self.tally.half_written = duplicates, half
        if found != acknowledged:
            lost = sorted(n for n in self.acked if notes.get(n, 0) < self.expected[n])
            self.tally.problems.append(f"{when}: acknowledged but missing: {lost[:5]}")

    def _notes(self, app) -> list[str]:
        notes, start = [], 1
        while True:
            page = app.recorder.select_notifications(start=start, limit=1000)
            if not page:
                return notes
            for notification in page:
                body = app.mapper.to_domain_event(notification).body
                if "note" in body:
                    notes.append(body["note"])
            start = page[-1].id + 1
