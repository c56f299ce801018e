"""The ids a command may name, as the log and as the view hold them, on both backends: what
is known, and what an unknown id is offered instead."""

from __future__ import annotations

import pytest

from ledger.application.names import LogNames, require_lots_of_exam
from ledger.core.errors import InputError
from ledger.projections import access
from ledger.projections.names import ViewNames


@pytest.fixture
def stocked(world):
    world.room("SR-3")
    for lot_id in ("MATH-Q-0001", "MATH-A-0001"):
        world.register(lot_id)
    world.handover("MATH-Q-0001", "STF-01", "STF-02")
    return world


def test_the_log_knows_its_lots_rooms_people_and_holders(stocked):
    names = LogNames(stocked.app)
    assert names.known("lot", "MATH-Q-0001") and not names.known("lot", "MATH-Q-001")
    assert names.known("room", "SR-3") and not names.known("room", "SR3")
    assert names.known("person", "STF-01") and names.known("person", "AUTH-01")
    assert not names.known("person", "STF-1")
    assert names.known("holder", "room:SR-3") and names.known("holder", "site:S01")
    assert not names.known("holder", "room:SR-4")
    assert names.every("lot") == ["MATH-A-0001", "MATH-Q-0001"]
    assert names.every("room") == ["SR-3"]
    assert {"AUTH-01", "POL-01", "STF-06"} <= set(names.every("person"))


def test_a_step_for_a_mistyped_lot_names_the_lot(stocked):
    with pytest.raises(InputError, match=r"^unknown lot MATH-Q-001; did you mean MATH-Q-0001"):
        stocked.handover("MATH-Q-001")


def test_an_exam_the_log_has_no_lot_of_suggests_the_one_it_has(stocked):
    assert require_lots_of_exam(stocked.app, "gaokao-2026") == ["MATH-A-0001", "MATH-Q-0001"]
    with pytest.raises(InputError, match=r"^unknown exam gaokao2026; did you mean gaokao-2026"):
        require_lots_of_exam(stocked.app, "gaokao2026")


def test_the_view_knows_the_same_ids(stocked):
    access.refresh(stocked.app)
    names = ViewNames(access.stored_view(stocked.app))
    assert names.known("lot", "MATH-Q-0001") and not names.known("lot", "MATH-Q-001")
    assert names.known("exam", "gaokao-2026") and not names.known("exam", "gaokao2026")
    assert names.known("room", "SR-3") and not names.known("room", "SR3")
    assert names.known("person", "AUTH-01") and not names.known("person", "STF-1")
    assert names.known("holder", "STF-02") and names.known("holder", "room:SR-3")
    assert not names.known("holder", "SR-3")
    assert sorted(names.every("lot")) == ["MATH-A-0001", "MATH-Q-0001"]
    assert names.every("exam") == ["gaokao-2026"]
    assert "room:SR-3" in names.every("holder") and "AUTH-01" in names.every("person")
