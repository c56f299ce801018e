"""The plain check of common.json's definitions accepts only what jsonschema accepts: it is a
shortcut for start-up, never a second rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.definitions import plainly_valid
from ledger.domain.schemas import value_problem

KINDS = ["id", "party", "text", "note", "hash"]
SAMPLES = ["MATH-Q-0001", "room:SR-3", "site:S01-R12", "", "a" * 64, "a" * 65, "x\n", "x\x1b",
           "中文 地点", "a\u200bb", "-lead", "ab:cd", "f" * 64, "F" * 64, "t" * 200, "t" * 201,
           "n" * 2000, "n" * 2001, "vehicle:", "\ud800", " ", "a b"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", SAMPLES)
def test_the_plain_check_agrees_with_jsonschema(kind, value):
    assert plainly_valid(kind, value) == (value_problem(kind, value) is None)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=80))
def test_the_plain_check_never_accepts_what_jsonschema_refuses(kind, value):
    if plainly_valid(kind, value):
        assert value_problem(kind, value) is None
