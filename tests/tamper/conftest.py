"""The tamper suite's starting point: a clean exam day, closed, in the attacker's hands.

The day is built once, through the public API, and each test attacks its own copy of the
file: the attacks need a ledger, not the cost of recording it again for every test.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from ledger.projections.view import NAMED, TABLES
from tests.conftest import Clock, World, build_world
from tests.tamper.attacker import Attacker, verify


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The ``day`` of tests/conftest.py (two lots, each registered and handed over twice),
    its application closed. It verifies intact, so every finding a test sees is the attack's."""
    world = build_world(tmp_path_factory.mktemp("pristine") / "custody.db")
    for lot_id in ("LOT-1", "LOT-2"):
        world.register(lot_id)
        world.handover(lot_id, "STF-01", "STF-02")
        world.handover(lot_id, "STF-02", "STF-03")
    world.app.close()
    _drop_view(world.db)
    report = verify(world.db)
    assert report.intact and not report.findings and report.events == 17
    return world


def _drop_view(db: Path) -> None:
    """Remove the view the recorder kept while recording the day: each attack is on a
    ledger no view has folded yet, so every read command folds the damaged rows afresh (a
    view folded before the damage is what ``verify --projections`` compares)."""
    with closing(sqlite3.connect(db)) as connection, connection:
        for name in NAMED:  # the SQL views over the tables first: none may outlive them
            connection.execute(f"DROP VIEW {name}")
        for table in (*TABLES, "tracking"):
            connection.execute(f"DROP TABLE {table}")


@pytest.fixture
def day(pristine: World, tmp_path: Path) -> World:
    """A copy of the pristine day for one test: its file, everyone's keys (for the people who
    collude in an attack) and a clock that goes on from where the day stopped.

    The application is closed: only the file is left to attack.
    """
    db = tmp_path / "custody.db"
    shutil.copyfile(pristine.db, db)
    return World(pristine.app, db, Clock(pristine.clock.now), dict(pristine.signers))


@pytest.fixture
def attacker(day: World) -> Attacker:
    return Attacker(day.db)
