"""Evidence bundles exported from SQLite and PostgreSQL: a recorded exam day (a container,
a secure room with duty shifts, packing and unpacking) gives bundles that verify offline with
the findings ``verify --lot`` gives."""

from __future__ import annotations

import pytest

from ledger.application.bundle import export_bundle
from ledger.application.names import lots_of_exam
from ledger.application.log import TransparencyLog
from ledger.core import canonical
from ledger.tlog.bundle import parse_bundle
from ledger.core.errors import InputError
from ledger.verify import Verifier
from ledger.verify.bundle import verify_bundle
from tests.backends.test_log_tamper import LOG
from tests.conftest import AUTHORITY, fixed_key
from tests.unit.test_exam_day import LOTS, exam_day

TRUSTED = fixed_key(AUTHORITY).public_key.raw


def verified(world, lot_id: str) -> list[dict]:
    verifier = Verifier(world.app.recorder, lot=lot_id)
    try:
        return [f.to_data() for f in verifier.run().findings if f.stream == f"lot:{lot_id}"]
    finally:
        verifier.close()


@pytest.fixture
def checkpointed(world):
    exam_day(world)
    world.app.set_log_key(LOG.key.public_key, world.signers[AUTHORITY], world.clock.now)
    TransparencyLog(world.app).sign_checkpoint(LOG)
    return world


def test_a_packed_lots_bundle_holds_its_container_and_room_and_verifies(checkpointed) -> None:
    lot_id = next(iter(LOTS))
    data, summary = export_bundle(checkpointed.app, [lot_id])
    bundle = parse_bundle(data)
    streams = set()
    for event in bundle.events:
        streams.add(canonical.decode(event.stored)["body"]["stream"])
    assert {f"lot:{lot_id}", "lot:BOX-1", "room:SR-3", "ledger"} <= streams
    assert not any(s.startswith("lot:") and s not in (f"lot:{lot_id}", "lot:BOX-1")
                   for s in streams)
    result = verify_bundle(bundle, TRUSTED, LOG.key.public_key.raw)
    assert result.report.intact, [f.code for f in result.report.findings]
    assert result.bundle["proofs_verified"] == summary["events"] == len(bundle.events)
    assert [f.to_data() for f in result.report.findings
            if f.stream == f"lot:{lot_id}"] == verified(checkpointed, lot_id)


def test_an_exam_bundle_holds_every_lot(checkpointed) -> None:
    lots = lots_of_exam(checkpointed.app, "gaokao-2026")
    assert set(LOTS) | {"BOX-1"} <= set(lots)
    data, _ = export_bundle(checkpointed.app, lots)
    result = verify_bundle(parse_bundle(data), TRUSTED, LOG.key.public_key.raw, workers=2)
    assert result.report.intact, [f.code for f in result.report.findings]


def test_a_step_after_the_checkpoint_needs_a_new_one(checkpointed) -> None:
    lot_id = next(iter(LOTS))
    checkpointed.app.set_log_key(fixed_key("LOG-2").public_key, checkpointed.signers[AUTHORITY],
                                 checkpointed.clock.now)
    with pytest.raises(InputError, match="custody checkpoint --key"):
        export_bundle(checkpointed.app, [lot_id])
