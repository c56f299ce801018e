"""A lot's seals read back from the view: the quick split of the stored form gives exactly
what a JSON parser gives, for any list of strings and any spacing, escapes included."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from ledger.projections.queries import _seals

SEALS = st.lists(st.text(max_size=12), max_size=5)


@given(SEALS)
def test_the_stored_form_reads_back_as_the_list_it_was(seals: list[str]) -> None:
    assert _seals(json.dumps(seals)) == tuple(seals)
    assert _seals(json.dumps(seals, ensure_ascii=False)) == tuple(seals)


@given(SEALS, st.sampled_from([",", ", ", " , ", ",  "]))
def test_any_other_spacing_reads_as_json_reads_it(seals: list[str], comma: str) -> None:
    stored = json.dumps(seals, separators=(comma, ":"))
    assert _seals(stored) == tuple(json.loads(stored))


def test_the_usual_ids_split() -> None:
    assert _seals('["S-1", "S-2"]') == ("S-1", "S-2")
    assert _seals("[]") == ()


@pytest.mark.parametrize("edited", ['["S-1", "S-2"]x', '["S-1\t"]', '["S-1", "S-2"'])
def test_text_json_refuses_is_refused(edited: str) -> None:
    with pytest.raises(ValueError):
        json.loads(edited)
    with pytest.raises(ValueError):
        _seals(edited)
