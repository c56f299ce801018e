"""Kill -9 a writer at a random moment, again and again, and check what the ledger kept.

Each cycle runs one of four writers and SIGKILLs it (its whole process group) after a random
delay:

- ``record``: ``custody record handover`` in a subprocess (one step, one transaction);
- ``submit``: ``custody submit step.draft`` of a draft signed beforehand by all six;
- ``handovers``: ``tests.durability.writer`` recording handovers through the API, forever;
- ``batch``: the same writer packing and unpacking three bags, one transaction of three events.

The view and checkpoint run (``VIEW_MODES``, on a ledger that names a log key) kills instead:

- ``rebuild``: ``custody projections rebuild`` (empties the view, folds the log a page per
  transaction);
- ``status``: ``custody status``, a read command that first catches the view up (the API
  writers append without touching the view, so it is behind);
- ``views``: ``tests.durability.writer views``: a whole rebuild every third turn (the first
  turn, so that short-lived writers die in one too), handovers through the API each followed
  by a catch-up in between, 10 events per transaction; its progress lines tell whether the
  kill landed inside a rebuild, between its pages, or inside a catch-up;
- ``checkpoint``: ``custody checkpoint --key log.key``; a checkpoint counts as printed when
  its whole note (its signature line with its newline) is on stdout;
- ``logkey``: ``custody record handover --receipt FILE`` with ``CUSTODY_LOG_KEY`` set: the
  append, then a checkpoint signed and stored, then the receipt written, then the view.

There, after each kill the view is also compared with one rebuilt from the events
(``verify --projections``: no ``PROJECTION_MISMATCH``), every printed checkpoint must be
stored and verify, and every receipt file the kill left must verify against the log.

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
from ledger.projections.compare import compare
from ledger.verify import Verifier
from ledger.verify.log import Evidence
from tests.conftest import SEALS, TEAM
from tests.durability import ledger

ROOT = Path(__file__).resolve().parents[2]
MODES = ("record", "submit", "handovers", "batch")
VIEW_MODES = ("handovers", "rebuild", "status", "views", "checkpoint", "logkey")
VIEW_PAGE = 10  # events per transaction of the ``views`` writer's catch-ups and rebuilds
CLI_LOT, SUBMIT_LOT, API_LOTS = "LOT-CLI", "LOT-SUB", ("LOT-A", "LOT-B")
LOTS = (CLI_LOT, SUBMIT_LOT, *API_LOTS)


@dataclass
class Tally:
    """What the kills did and what the ledger kept; its ``summary`` is the assertion message."""

    backend: str
    seed: int
    modes: tuple[str, ...] = MODES
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
    views: bool = False  # the view and checkpoint run: its numbers join the summary
    view_compared: int = 0  # kills after which the view matched one rebuilt from the events
    mismatches: int = 0  # kills after which verify --projections said PROJECTION_MISMATCH
    checkpoints_printed: int = 0
    checkpoints_stored: int = 0  # of those printed, found stored byte for byte
    checkpoints_total: int = 0  # checkpoints stored, printed or not
    receipt_files: int = 0  # receipt files the commands said they wrote
    mid_rebuild: int = 0  # ``views`` writers killed inside a rebuild (REBUILDING, no REBUILT)
    mid_rebuild_pages: int = 0  # of those, killed after one page or more was written
    mid_catch_up: int = 0  # ``views`` writers killed inside a catch-up after their handover
    stray_receipt_files: int = 0  # receipt files left by a command killed before it said so

    @property
    def ok(self) -> bool:
        views_ok = not self.views or (
            self.view_compared == self.cycles and not self.mismatches
            and self.checkpoints_stored == self.checkpoints_printed)
        return (not self.problems and self.found == self.acknowledged and not self.duplicates
                and not self.half_written and self.verified_intact == self.cycles and views_ok)

    def summary(self) -> str:
        modes = ", ".join(f"{m} {self.by_mode[m]} ({self.receipts[m]} receipts)"
                          for m in self.modes)
        text = (f"{self.backend}: {self.cycles} kill cycles (seed {self.seed}; {modes}; "
                f"{self.killed} killed mid-command); {self.acknowledged} events acknowledged, "
                f"{self.found} of them found, {self.unacknowledged_found} more written but not "
                f"acknowledged; duplicates {self.duplicates}; half-written transactions "
                f"{self.half_written}; verify intact after {self.verified_intact} of "
                f"{self.cycles} kills")
        if self.views:
            text += (f"; view matched one rebuilt from the events after {self.view_compared} "
                     f"of {self.cycles} kills (PROJECTION_MISMATCH {self.mismatches}); "
                     f"checkpoints printed {self.checkpoints_printed}, stored and verified "
                     f"{self.checkpoints_stored} ({self.checkpoints_total} stored in all); "
                     f"receipt files acknowledged {self.receipt_files}, left unacknowledged "
                     f"{self.stray_receipt_files}, all verified; views writers killed inside "
                     f"a rebuild {self.mid_rebuild} ({self.mid_rebuild_pages} after a page or "
                     f"more was written), inside a catch-up {self.mid_catch_up}")
        return text + "".join(f"\n  problem: {p}" for p in self.problems[:10])


class CrashRun:
    """A ledger, a keyring, and the steps written to it so far, kill after kill."""

    def __init__(self, db: str, folder: Path, backend: str, seed: int,
                 modes: tuple[str, ...] = MODES) -> None:
        self.db, self.folder, self.modes = db, folder, modes
        self.views = modes == VIEW_MODES
        self.rng = random.Random(seed)
        self.tally = Tally(backend, seed, modes, views=self.views)
        self.keys = ledger.write_keyring(folder / "keys")
        self.expected: dict[str, int] = {}  # note -> events in its transaction
        self.acked: set[str] = set()
        self.checkpoints: list[bytes] = []  # every checkpoint note a command printed
        self.receipts: list[Path] = []  # every receipt file a command said it wrote
        # How long a finished CLI command took: one estimate for the two step commands (as
        # the first harness had), one for each other command.
        self.cli_seconds: dict[str, list[float]] = {}
        ledger.create(db, LOTS, log_key=self.views)
        if self.views:
            # Few cycles of each command here: start their kill delays from how long each
            # command takes on this machine, run once to its end, not from a guess (a status
            # answered from the view is much quicker than a checkpoint, which folds the log).
            for mode, args in (("status", ["status"]), ("rebuild", ["projections", "rebuild"]),
                               ("checkpoint", ["checkpoint", "--key", str(self.keys / "log.key")])):
                began = time.monotonic()
                process = self._spawn([sys.executable, "-m", "cli", "--db", db, *args])
                _, err = process.communicate()
                assert process.returncode == 0, err
                self.cli_seconds[mode] = [time.monotonic() - began]
            # an append that signs a checkpoint: a step, then a checkpoint
            self.cli_seconds["logkey"] = [self.cli_seconds["checkpoint"][0] * 2]

    # -- one cycle -------------------------------------------------------------------------

    def cycle(self) -> None:
        n = self.tally.cycles
        mode = self.modes[n % len(self.modes)]
        self.tally.cycles += 1
        self.tally.by_mode[mode] += 1
        if mode in ("handovers", "batch", "views"):
            self._writer(n, mode)
        else:
            self._command(n, mode)
        self.check(f"cycle {n} ({mode})")

    def _command(self, n: int, mode: str) -> None:
        note, env, receipt = f"c{n}", {}, None
        if mode in ("record", "submit", "logkey"):
            self.expected[note] = 1
        if mode in ("record", "logkey"):
            with closing(open_ledger(self.db)) as app:
                fields = ledger.handover_fields(app, CLI_LOT)
            args = ["record", "handover", "--lot", CLI_LOT, "--from", fields["from"],
                    "--to", fields["to"], "--count", "30", "--location", "Secure room 1",
                    "--note", note]
            for seal in SEALS:
                args += ["--seal", seal]
            for person in TEAM:
                args += ["--sign", str(self.keys / f"{person}.key")]
            if mode == "logkey":
                receipt = self.folder / f"{note}.proof"
                args += ["--receipt", str(receipt)]
                env = {"CUSTODY_LOG_KEY": str(self.keys / "log.key")}
        elif mode == "rebuild":
            args = ["projections", "rebuild"]
        elif mode == "status":
            args = ["status"]
        elif mode == "checkpoint":
            args = ["checkpoint", "--key", str(self.keys / "log.key")]
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
        seconds = self.cli_seconds.setdefault(
            "step" if mode in ("record", "submit") else mode, [1.0])
        # (The view run's commands are the shorter; with few cycles of each, and on a busy
        # machine, kills up to 1.6 times the estimate let some of them print what they did.)
        delay = self.rng.uniform(0.3, 1.6 if self.views else 1.2) * statistics.median(seconds)
        if self.views and self.tally.by_mode[mode] % 2 == 0:
            # Every other run of a command here is let finish (killed only if it takes three
            # times the estimate): so each command is both killed mid-way and seen to print
            # what it did, whatever the draws and however loaded the machine.
            delay = 3 * statistics.median(seconds)
        began = time.monotonic()
        process = self._spawn([sys.executable, "-m", "cli", "--db", self.db, *args], env)
        killed = self._kill_after(process, delay)
        out, err = process.communicate()
        if killed:
            # Let the estimate grow until some commands finish: then about one in five runs
            # to its receipt, and the rest die at every point from start-up to the commit.
            seconds.append(delay * 1.6)
        else:
            seconds.append(time.monotonic() - began)
            if process.returncode != 0:
                self.tally.problems.append(f"cycle {n} ({mode}): exit {process.returncode} "
                                           f"without a kill: {err.strip()}")
        lines = [line for line in out.splitlines(keepends=True) if line.endswith("\n")]
        if mode in ("record", "submit", "logkey") and any(
                line.startswith("event hash ") for line in lines):
            self.acked.add(note)
            self.tally.receipts[mode] += 1
        if receipt is not None and any(line == f"receipt {receipt}\n" for line in lines):
            self.receipts.append(receipt)
            self.tally.receipt_files += 1
        if mode == "checkpoint":
            note_text = "".join(lines)
            # A note is its text, a blank line, and a signature line "— name sig"; printed
            # means all of it, up to that line's newline.
            if "\n\n\u2014 " in note_text:
                self.checkpoints.append(note_text.encode("utf-8"))
                self.tally.receipts[mode] += 1
        elif mode in ("rebuild", "status") and not killed:
            self.tally.receipts[mode] += 1

    def _writer(self, n: int, mode: str) -> None:
        if mode == "handovers":
            args = ["handovers", self.db, f"w{n}", "0", *API_LOTS]
        elif mode == "views":
            args = ["views", self.db, f"w{n}", str(VIEW_PAGE), *API_LOTS]
        else:
            args = ["batches", self.db, f"w{n}", "0"]
        process = self._spawn([sys.executable, "-m", "tests.durability.writer", *args])
        assert process.stdout is not None
        ready = process.stdout.readline()
        killed = self._kill_after(process, self.rng.uniform(0.0, 0.8)) if ready else False
        out, err = process.communicate()
        if not killed:
            self.tally.problems.append(f"cycle {n} ({mode}): writer ended by itself, exit "
                                       f"{process.returncode}: {err.strip()}")
        size = len(ledger.PACKED) if mode == "batch" else 1
        complete = [line for line in out.splitlines(keepends=True) if line.endswith("\n")]
        if mode == "views" and complete:
            # Where the kill landed: after REBUILDING (and perhaps some PAGE lines) but
            # before REBUILT, a rebuild was cut; after CATCHUP but before CAUGHT, a catch-up.
            last = complete[-1].split()[0]
            if last in ("REBUILDING", "PAGE"):
                self.tally.mid_rebuild += 1
                self.tally.mid_rebuild_pages += last == "PAGE"
            elif last == "CATCHUP":
                self.tally.mid_catch_up += 1
        for line in complete:
            if line.startswith("ACK "):
                self.acked.add(line.split()[1])
                self.tally.receipts[mode] += 1
        # Notes the writer may have reached: every one up to the first it never acknowledged
        # (the ``views`` writer's every third turn is a rebuild, with no step of its own).
        acked_here = [int(note.split("-")[1]) for note in self.acked if note.startswith(f"w{n}-")]
        for k in range(max(acked_here, default=-1) + (3 if mode == "views" else 2)):
            self.expected[f"w{n}-{k}"] = size

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})

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
            evidence = self._evidence(when) if self.views else []
            verifier = Verifier(app.recorder, workers=1, evidence=evidence)
            try:
                report = verifier.run()
            finally:
                verifier.close()
            if report.intact:
                self.tally.verified_intact += 1
            else:
                codes = sorted({f.code for f in report.errors})
                self.tally.problems.append(f"{when}: verify not intact: {codes}")
            notes = Counter(self._notes(app))
            if self.views:
                self._check_view_and_checkpoints(app, when)
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

    def finish(self) -> None:
        """After the last kill, the commands a person would run next, left to finish: the
        read brings the view to the head, and ``verify --projections`` says intact."""
        for args in (["status"], ["verify", "--projections", "--workers", "1"]):
            process = self._spawn([sys.executable, "-m", "cli", "--db", self.db, *args])
            out, err = process.communicate()
            if process.returncode != 0 or "PROJECTION_" in out:
                self.tally.problems.append(f"after the last kill: custody {' '.join(args)} "
                                           f"exit {process.returncode}: {err.strip()} "
                                           f"{out.strip()[-300:]}")

    def _evidence(self, when: str) -> list[Evidence]:
        """Every printed checkpoint, and every receipt file on disk: acknowledged or left by a
        kill, each must verify against the log (a half-written file would not)."""
        evidence = [Evidence(f"checkpoint {i}", note) for i, note in enumerate(self.checkpoints)]
        acknowledged = set(self.receipts)
        stray = 0
        for path in sorted(self.folder.glob("*.proof*")):
            if path not in acknowledged:
                stray += 1
            evidence.append(Evidence(str(path), path.read_bytes(), receipt=True))
        self.tally.stray_receipt_files = stray
        return evidence

    def _check_view_and_checkpoints(self, app, when: str) -> None:
        """The stored view matches one rebuilt from the events up to its position, and every
        checkpoint a command printed is stored byte for byte."""
        findings = compare(app)
        mismatches = [f for f in findings if f.code == "PROJECTION_MISMATCH"]
        if mismatches:
            self.tally.mismatches += 1
            self.tally.problems.append(f"{when}: {mismatches[0].message}")
        else:
            self.tally.view_compared += 1
        stored = {note for _, _, note in app.recorder.checkpoint_rows()}
        self.tally.checkpoints_total = len(stored)
        self.tally.checkpoints_printed = len(self.checkpoints)
        self.tally.checkpoints_stored = sum(note in stored for note in self.checkpoints)
        if self.tally.checkpoints_stored != self.tally.checkpoints_printed:
            self.tally.problems.append(f"{when}: a printed checkpoint is not stored")

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
