import pytest

from ledger.core.errors import InputError
from ledger.core.policy import PresencePolicy, evaluate
from ledger.domain.schemas import check_policy
from tests.conftest import load_policy

DEFAULT = load_policy("two-police-four-staff")
FOUR_TWO = load_policy("four-including-two-police")
SIX = {"P1": "police", "P2": "police", "S1": "staff", "S2": "staff", "S3": "staff", "S4": "staff"}


def test_two_police_and_four_staff_meet_the_default_policy():
    verdict = evaluate(DEFAULT, "lot.handed_over", SIX)
    assert verdict.met and verdict.shortfalls == ()


def test_five_people_are_short_and_the_verdict_names_who_is_missing():
    present = dict(SIX)
    del present["S4"]
    verdict = evaluate(DEFAULT, "lot.handed_over", present)
    assert not verdict.met
    (short,) = verdict.shortfalls
    assert short.requirement.roles == ("staff",) and short.missing == 1
    assert short.counted == ("S1", "S2", "S3")
    assert verdict.describe() == "needs 4 staff, has 3 (S1, S2, S3): 1 missing"


def test_an_inspector_does_not_count_as_staff():
    present = {**{k: v for k, v in SIX.items() if k != "S4"}, "I1": "inspector"}
    assert evaluate(DEFAULT, "lot.registered", present).shortfalls[0].missing == 1


def test_police_count_towards_four_including_two_police():
    present = {"P1": "police", "P2": "police", "S1": "staff", "S2": "staff"}
    assert evaluate(FOUR_TWO, "lot.handed_over", present).met
    assert not evaluate(DEFAULT, "lot.handed_over", present).met


def test_four_staff_without_police_fail_the_second_profile():
    present = {"S1": "staff", "S2": "staff", "S3": "staff", "S4": "staff"}
    verdict = evaluate(FOUR_TWO, "lot.handed_over", present)
    assert [s.requirement.roles for s in verdict.shortfalls] == [("police",)]


def test_step_specific_requirements_override_the_default():
    policy = PresencePolicy.from_data({
        "id": "unseal-needs-inspector", "version": 2,
        "steps": {"*": {"require": [{"roles": ["staff"], "at_least": 1}]},
                  "lot.unsealed": {"require": [{"roles": ["inspector"], "at_least": 1}]}},
    })
    assert evaluate(policy, "lot.handed_over", {"S1": "staff"}).met
    assert not evaluate(policy, "lot.unsealed", {"S1": "staff"}).met


def test_policy_round_trips_through_its_data_form():
    assert PresencePolicy.from_data(DEFAULT.to_data()) == DEFAULT


@pytest.mark.parametrize("data, field", [
    ({"id": "x", "version": 1}, "steps"),
    ({"id": "x", "version": 0, "steps": {"*": {"require": []}}}, "version"),
    ({"id": "x", "version": 1, "steps": {"*": {"require": [{"roles": ["chef"], "at_least": 1}]}}}, "steps"),
    ({"id": "x", "version": 1, "steps": {"*": {"require": [{"roles": ["staff"], "at_least": "2"}]}}}, "steps"),
])
def test_invalid_policy_documents_are_refused_naming_the_field(data, field):
    with pytest.raises(InputError, match=field):
        check_policy(data, source="test")
