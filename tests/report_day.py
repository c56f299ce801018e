"""An exam day with incidents on record, for the report's tests (data, HTML, browser).

The exam day of ``tests/unit/test_exam_day.py`` with a night of three on duty in secure
room SR-3 (a ``DUTY_UNCOVERED`` gap from 12:00Z to 22:00Z), then lot LOT-X: a handover
whose count falls short, acknowledged on record (``ACKNOWLEDGED_VIOLATION``, its reason
holding markup), and a handover at a location that is a ``<script>`` element. Last, the
authority names a log key and the log signs a checkpoint over everything.
"""

from __future__ import annotations

from pathlib import Path

from ledger.application.keystore import Signer
from ledger.application.log import TransparencyLog
from tests.conftest import AUTHORITY, World, build_world, fixed_key
from tests.unit.test_exam_day import at, exam_day, team

NIGHT_GAP = ("2026-06-07T12:00:00.000000Z", "2026-06-07T22:00:00.000000Z")
HOSTILE_LOCATION = "<script>alert('custody')</script>"
REASON = "one bag torn <b>in transit</b>"


def incident_ledger(folder: Path, *, checkpoint: bool = True) -> Path:
    """A closed SQLite ledger in ``folder`` holding the incident day (``incident_day``)."""
    world = build_world(folder / "custody.db")
    incident_day(world, checkpoint=checkpoint)
    world.app.close()
    return Path(world.db)


def incident_day(world: World, *, checkpoint: bool = True) -> Signer | None:
    """Record the day; returns the log's signer (None without ``checkpoint``)."""
    exam_day(world, night_shift=("POL-02", "POL-03", "STF-05"))
    world.register("LOT-X", holder="STF-01", team=team("STF-01"))
    world.clock.now = at(33)
    world.handover("LOT-X", "STF-01", "STF-02", team=team("STF-01", "STF-02"), count=29,
                   acknowledge=REASON, at=at(33))
    world.clock.now = at(34)
    world.app.record_handover("LOT-X", "STF-02", "STF-03", HOSTILE_LOCATION,
                              ["SEAL-1", "SEAL-2"], 29, at(34), world.sign(*team("STF-02", "STF-03")))
    if not checkpoint:
        return None
    log = Signer(world.app.ledger().ledger_id or "", fixed_key("LOG"))
    world.clock.now = at(35)
    world.app.set_log_key(log.key.public_key, world.signers[AUTHORITY], at(35))
    TransparencyLog(world.app).sign_checkpoint(log)
    return log
