"""`history` of a packed lot numbers its steps in order: the container's steps while the lot
was packed come as 2.1, 2.2 ... after the packing step 2, not with the container's own step
numbers (the demo's answer sheets read 1, 2, 2, 3, 4, 5, 3, 4, 5, 6)."""

from __future__ import annotations

from types import SimpleNamespace

from cli.render import numbered


def step(seq: int) -> SimpleNamespace:
    return SimpleNamespace(body={"seq": seq})


def test_a_packed_lots_steps_are_numbered_as_they_happened_never_restarting():
    steps = [(step(1), None), (step(2), None), (step(2), "BOX"), (step(3), "BOX"),
             (step(4), "BOX"), (step(5), "BOX"), (step(3), None), (step(4), None),
             (step(5), None), (step(6), None)]
    assert numbered(steps) == ["1", "2", "2.1", "2.2", "2.3", "2.4", "3", "4", "5", "6"]


def test_a_lot_still_packed_ends_with_its_containers_steps_and_packed_twice_restarts():
    steps = [(step(1), None), (step(2), None), (step(7), "BOX"), (step(3), None),
             (step(4), None), (step(1), "CRATE"), (step(2), "CRATE")]
    assert numbered(steps) == ["1", "2", "2.1", "3", "4", "4.1", "4.2"]
