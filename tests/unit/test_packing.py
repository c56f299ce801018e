"""The one rule for a packed lot's steps (``ledger.core.packing``): by log position."""

from __future__ import annotations

from ledger.core.packing import Packing, lot_steps, packings

LOG = {  # each lot's own steps: (position, type, container)
    "BAG": [(2, "lot.registered", None), (5, "lot.packed", "BOX"), (9, "lot.unpacked", None),
            (10, "lot.handed_over", None)],
    "BOX": [(1, "lot.registered", None), (4, "lot.handed_over", None),
            (6, "lot.handed_over", None), (7, "lot.packed", "CRATE"),
            (8, "lot.unpacked", None), (11, "lot.handed_over", None)],
    "CRATE": [(3, "lot.registered", None), (7_5, "lot.transport_departed", None)],
}


def test_a_lot_lies_in_its_container_between_the_positions_of_its_packing_and_unpacking() -> None:
    (packing,) = packings(LOG["BAG"])
    assert packing == Packing("BOX", 5, 9)
    assert [p for p in range(1, 12) if packing.holds(p)] == [6, 7, 8]


def test_a_lot_still_packed_lies_in_its_container_to_the_end_of_the_log() -> None:
    assert packings([(1, "lot.registered", None), (3, "lot.packed", "BOX")]) == [
        Packing("BOX", 3)]
    assert Packing("BOX", 3).holds(10**9)


def test_container_steps_recorded_before_the_packing_or_after_the_unpacking_are_not_the_lots(
        ) -> None:
    """BOX's handover at 4 (before the packing at 5) and at 11 (after the unpacking at 9) are
    not BAG's; the one at 6 is, and so is BOX's own packing into CRATE at 7 and unpacking at 8
    — but not CRATE's departure at 75, recorded after BOX left it."""
    assert lot_steps("BAG", LOG.__getitem__) == [
        (2, None), (5, None), (6, "BOX"), (7, "BOX"), (8, "BOX"), (9, None), (10, None)]


def test_containers_nest_and_the_step_is_named_by_the_container_that_took_it() -> None:
    log = {"BAG": [(1, "lot.packed", "BOX")], "BOX": [(2, "lot.packed", "CRATE")],
           "CRATE": [(3, "lot.transport_departed", None)]}
    assert lot_steps("BAG", log.__getitem__) == [(1, None), (2, "BOX"), (3, "CRATE")]


def test_a_container_inside_itself_ends_the_nesting_instead_of_looping() -> None:
    log = {"A": [(1, "lot.packed", "B")], "B": [(2, "lot.packed", "A"), (3, "lot.handed_over", None)]}
    assert lot_steps("A", log.__getitem__) == [(1, None), (2, "B"), (3, "B")]
