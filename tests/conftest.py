"""Shared fixtures: a deterministic clock, fixed keys, and a realistic ledger built through
the public application API on a real SQLite file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import pytest

from ledger.application.custody import CustodyLedger, open_ledger
from ledger.application.keystore import Signer
from ledger.core.keys import SigningKey
from ledger.core.policy import PresencePolicy

START = datetime(2026, 6, 6, 5, 0, tzinfo=timezone.utc)
LEDGER_ID = "test-ledger"
AUTHORITY = "AUTH-01"
# person id -> role; two more staff than one step needs, so steps can vary who is present
PEOPLE = {
    "POL-01": "police", "POL-02": "police", "POL-03": "police",
    "STF-01": "staff", "STF-02": "staff", "STF-03": "staff",
    "STF-04": "staff", "STF-05": "staff", "STF-06": "staff",
    "INS-01": "inspector",
}
TEAM = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-04"]
SEALS = ["SEAL-1", "SEAL-2"]


def fixed_key(person_id: str) -> SigningKey:
    """A deterministic key per person, so runs are reproducible."""
    return SigningKey.from_seed(hashlib.sha256(b"custody-test-key:" + person_id.encode()).digest())


def load_policy(name: str) -> PresencePolicy:
    text = resources.files("schemas").joinpath(f"policies/{name}.json").read_text()
    return PresencePolicy.from_data(json.loads(text))


class Clock:
    """A clock the tests move by hand: each reading is one second after the last."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class World:
    """A ledger with an authority, ten enrolled people and helpers to record steps."""

    app: CustodyLedger
    db: Path | str  # a SQLite file, or a postgresql:// URL (tests/backends)
    clock: Clock
    signers: dict[str, Signer] = field(default_factory=dict)

    def sign(self, *people: str) -> list[Signer]:
        return [self.signers[p] for p in people]

    def register(self, lot_id: str = "LOT-1", holder: str = "STF-01", team=TEAM,
                 location: str = "Secure room 1", **kw):
        """Register a lot where the helpers' steps happen: the same people signing at two
        places a second apart would be impossible presence (PRESENCE_CONFLICT)."""
        lot = {"id": lot_id, "exam": "gaokao-2026", "subject": "math",
               "kind": "question_paper", "count": 30, "seals": list(SEALS)}
        lot.update(kw.pop("lot", {}))
        return self.app.register_lot(lot, location, self.clock.now, self.sign(*team),
                                     holder=holder, **kw)

    def step(self, stream: str, event_type: str, fields: dict, team, at: datetime | None = None,
             location: str = "Secure room 1", **kw):
        """Record any co-signed step with ``team`` present and signing, as it happens."""
        if at is not None and at > self.clock.now:
            self.clock.now = at
        return self.app.record_step(stream, event_type, fields, location, at or self.clock.now,
                                    self.sign(*team), **kw)

    def room(self, room_id: str = "SR-3", valid_from: str = "2026-01-01T00:00:00.000000Z",
             valid_until: str = "2026-12-31T23:59:59.000000Z", within: str | None = None):
        return self.app.register_room({"id": room_id, "name": f"Secure room {room_id}",
                                       "licence": f"BM-{room_id}", "valid_from": valid_from,
                                       "valid_until": valid_until,
                                       **({"within": within} if within else {})},
                                      self.signers[AUTHORITY], self.clock.now)

    def site(self, site_id: str, within: str | None = None):
        """Register a site (a building, or a room within one) steps can name as their place."""
        return self.app.register_site({"id": site_id, "name": f"Site {site_id}",
                                       **({"within": within} if within else {})},
                                      self.signers[AUTHORITY], self.clock.now)

    def handover(self, lot_id: str = "LOT-1", giver: str = "STF-01", receiver: str = "STF-02",
                 team=TEAM, seals=SEALS, count: int = 30, at: datetime | None = None,
                 location: str = "Secure room 1", **kw):
        return self.app.record_handover(lot_id, giver, receiver, location, seals, count,
                                        at or self.clock.now, self.sign(*team), **kw)


def build_world(db: Path | str, policy: str = "two-police-four-staff", *,
                witnesses: Mapping[str, Any] | None = None,
                people: Mapping[str, str] = PEOPLE) -> World:
    """A ledger on ``db`` (a SQLite path or a PostgreSQL URL): its genesis (naming
    ``witnesses``, if any) and ``people`` (id -> role) enrolled, each with a fixed key."""
    clock = Clock()
    app = open_ledger(str(db), create=True, clock=clock)
    world = World(app, db, clock)
    world.signers[AUTHORITY] = Signer(AUTHORITY, fixed_key(AUTHORITY))
    app.init(LEDGER_ID, {"id": AUTHORITY, "name": "Exam Authority", "unit": "Provincial Office"},
             world.signers[AUTHORITY], load_policy(policy), clock.now, witnesses=witnesses)
    for person_id, role in people.items():
        signer = Signer(person_id, fixed_key(person_id))
        world.signers[person_id] = signer
        app.enrol({"id": person_id, "name": f"Person {person_id}", "role": role, "unit": "Unit"},
                  signer.key.public_key, world.signers[AUTHORITY], clock.now)
    return world


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A fresh ledger on a real SQLite file: genesis plus ten enrolled people."""
    w = build_world(tmp_path / "custody.db")
    yield w
    w.app.close()


@pytest.fixture
def day(world: World) -> World:
    """The world with two lots registered and handed over twice: a clean little exam day."""
    for lot_id in ("LOT-1", "LOT-2"):
        world.register(lot_id)
        world.handover(lot_id, "STF-01", "STF-02")
        world.handover(lot_id, "STF-02", "STF-03")
    return world


@pytest.fixture(autouse=True)
def english_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests read English output whatever the machine's locale (LANG=zh_CN would make the CLI
    speak Chinese); tests/cli/test_languages.py sets the language it tests explicitly. The
    language in use is per process: a test that ran a command in Chinese leaves English."""
    from cli import i18n

    monkeypatch.setenv("CUSTODY_LANG", "en")
    i18n.use("en")
