"""Stored times in a message are shown to the second in the command's zone, except two
different moments that would then read the same: those are shown to the microsecond, so a
message comparing them never seems to compare a time with itself."""

from __future__ import annotations

import pytest

from cli import i18n, times
from ledger.core.text import Message

TEMPLATE = ("recorded at {found}, before the event before it in the log (position "
            "{previous_position}, recorded at {previous})")


@pytest.fixture(autouse=True)
def shanghai():
    times.choose("Asia/Shanghai")
    yield
    times.choose(None)


@pytest.mark.parametrize("found, previous, shown", [
    # within one second: both to the microsecond
    ("2026-06-07T06:54:20.104512Z", "2026-06-07T06:54:20.600000Z",
     ("2026-06-07T14:54:20.104512+08:00", "2026-06-07T14:54:20.600000+08:00")),
    # seconds apart: both to the second
    ("2026-06-07T06:54:19.900000Z", "2026-06-07T06:54:20.100000Z",
     ("2026-06-07T14:54:19+08:00", "2026-06-07T14:54:20+08:00")),
], ids=["within one second", "seconds apart"])
def test_two_moments_are_shown_to_the_second_unless_it_cannot_tell_them_apart(
        found, previous, shown):
    message = Message(TEMPLATE, found=found, previous_position=17, previous=previous)
    assert i18n.translated(message) == (
        f"recorded at {shown[0]}, before the event before it in the log "
        f"(position 17, recorded at {shown[1]})")


def test_the_same_moment_twice_stays_to_the_second():
    same = "2026-06-07T06:54:20.104512Z"
    message = Message("{a} and {b}", a=same, b=same)
    assert i18n.translated(message) == "2026-06-07T14:54:20+08:00 and 2026-06-07T14:54:20+08:00"
