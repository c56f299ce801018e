"""ledger.core.names: which ids an unknown one suggests, and the one-line error it makes."""

from __future__ import annotations

from ledger.core.errors import InputError
from ledger.core.names import closest, require_known, unknown

LOTS = ["MATH-Q-0001", "MATH-A-0001", "PHYS-Q-0001", "BOX-0001"]


def test_one_digit_short_suggests_the_lot_it_missed_first():
    assert closest("MATH-Q-001", LOTS)[0] == "MATH-Q-0001"


def test_suggestions_ignore_case_and_keep_the_ledgers_spelling():
    assert closest("math-q-0001", LOTS)[0] == "MATH-Q-0001"


def test_an_id_under_another_prefix_comes_first():
    holders = ["STF-03", "SR-30", "room:SR-3", "site:S01"]
    assert closest("SR-3", holders)[0] == "room:SR-3"


def test_at_most_three_are_suggested_and_none_when_nothing_is_alike():
    many = [f"LOT-{n}" for n in range(10)]
    assert len(closest("LOT-", many)) == 3
    assert closest("ZZZZZZZZ", LOTS) == []


def test_the_error_names_kind_id_option_and_suggestions():
    error = unknown("person", "STF-1", ["STF-01", "POL-01"], "--to")
    assert isinstance(error, InputError)
    assert str(error) == "unknown person STF-1 (--to); did you mean STF-01?"
    assert str(unknown("room", "SR9", [])) == ("unknown secure room SR9; 'custody room "
                                               "register' registers one")


def test_a_bare_holder_is_named_as_a_person():
    assert str(unknown("holder", "SR-3", ["room:SR-3"])) == (
        "unknown person SR-3; did you mean room:SR-3?")


class Known:
    def __init__(self, ids):
        self.ids = ids
        self.listed = 0

    def known(self, kind, name):
        return name in self.ids

    def every(self, kind):
        self.listed += 1
        return self.ids


def test_a_known_id_lists_no_candidates():
    names = Known(LOTS)
    require_known(names, "lot", "MATH-Q-0001")
    assert names.listed == 0
