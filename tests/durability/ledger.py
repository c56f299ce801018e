"""A small real ledger for the durability tests, recorded on the system clock (the writers
are separate processes, each with its own clock), and the steps those writers take."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ledger.application.custody import CustodyLedger, Receipt, open_ledger
from ledger.application.keystore import Signer, write_key_pair
from tests.conftest import AUTHORITY, LEDGER_ID, PEOPLE, SEALS, TEAM, fixed_key, load_policy

STAFF = [p for p in TEAM if p.startswith("STF-")]
LOG = Signer(LEDGER_ID, fixed_key("LOG"))  # the log key the view and checkpoint cycles name
BOX = "BOX-1"
PACKED = ["BAG-1", "BAG-2", "BAG-3"]


def signers(*people: str) -> list[Signer]:
    return [Signer(p, fixed_key(p)) for p in people]


def write_keyring(folder: Path) -> Path:
    """Key files without passphrases (the crash test kills signers, not prompts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for person_id in [AUTHORITY, *PEOPLE]:
        write_key_pair(folder / f"{person_id}.key", person_id, fixed_key(person_id), None)
    write_key_pair(folder / "log.key", LOG.person_id, LOG.key, None)
    return folder


def create(db: str, lots: Iterable[str], log_key: bool = False) -> None:
    """Genesis, the ten people, ``lots`` held by STF-01, and BOX-1 with three bags; with
    ``log_key``, the authority names ``LOG`` as the log's checkpoint-signing key."""
    app = open_ledger(db, create=True)
    try:
        authority = Signer(AUTHORITY, fixed_key(AUTHORITY))
        now = app.clock()
        app.init(LEDGER_ID, {"id": AUTHORITY, "name": "Exam Authority", "unit": "Office"},
                 authority, load_policy("two-police-four-staff"), now)
        for person_id, role in PEOPLE.items():
            app.enrol({"id": person_id, "name": f"Person {person_id}", "role": role,
                       "unit": "Unit"}, fixed_key(person_id).public_key, authority, app.clock())
        for lot_id in [*lots, *PACKED]:
            register(app, lot_id)
        register(app, BOX, kind="container")
        if log_key:
            app.set_log_key(LOG.key.public_key, authority, app.clock())
    finally:
        app.close()


def register(app: CustodyLedger, lot_id: str, kind: str = "question_paper") -> Receipt:
    lot = {"id": lot_id, "exam": "gaokao-2026", "subject": "math", "kind": kind, "count": 30,
           "seals": list(SEALS)}
    return app.register_lot(lot, "Secure room 1", app.clock(), signers(*TEAM), holder="STF-01")


def next_holder(holder: str) -> str:
    """Custody passes round the four staff present."""
    return STAFF[(STAFF.index(holder) + 1) % len(STAFF)]


def handover_fields(app: CustodyLedger, lot_id: str) -> dict:
    lot = app.lot(lot_id)
    assert lot is not None, lot_id
    holder = lot.state.holder
    return {"from": holder, "to": next_holder(holder), "seals_checked": sorted(SEALS),
            "count_checked": 30}


def handover(app: CustodyLedger, lot_id: str, note: str) -> Receipt:
    fields = handover_fields(app, lot_id)
    return app.record_handover(lot_id, fields["from"], fields["to"], "Secure room 1", SEALS, 30,
                               app.clock(), signers(*TEAM), note=note)


def pack_or_unpack(app: CustodyLedger, note: str) -> list[Receipt]:
    """One transaction of three events: pack the bags into BOX-1, or take them out again."""
    packed = app.lot(PACKED[0]).state.packed_in is not None  # type: ignore[union-attr]
    return app.pack(BOX, PACKED, packed, "Secure room 1", app.clock(), signers(*TEAM),
                    note=note)
