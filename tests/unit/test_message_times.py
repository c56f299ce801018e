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


def test_two_moments_within_one_second_are_shown_to_the_microsecond():
    message = Message(TEMPLATE, found="2026-06-07T06:54:20.104512Z", previous_position=17,
                      previous="2026-06-07T06:54:20.600000Z")
    assert i18n.translated(message) == (
        "recorded at 2026-06-07T14:54:20.104512+08:00, before the event before it in the log "
        "(position 17, recorded at 2026-06-07T14:54:20.600000+08:00)")


def test_moments_that_read_apart_to_the_second_stay_to_the_second():
    message = Message(TEMPLATE, found="2026-06-07T06:54:19.900000Z", previous_position=17,
                      previous="2026-06-07T06:54:20.100000Z")
    assert i18n.translated(message) == (
        "recorded at 2026-06-07T14:54:19+08:00, before the event before it in the log "
        "(position 17, recorded at 2026-06-07T14:54:20+08:00)")


def test_the_same_moment_twice_stays_to_the_second():
    same = "2026-06-07T06:54:20.104512Z"
    message = Message("{a} and {b}", a=same, b=same)
    assert i18n.translated(message) == "2026-06-07T14:54:20+08:00 and 2026-06-07T14:54:20+08:00"
