"""The flat and compiled schemas accept exactly what the schema files as written accept."""

from __future__ import annotations

import copy

import pytest

from ledger.domain import schemas
from tests.unit.test_exam_day import exam_day


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    from tests.conftest import build_world

    world = exam_day(build_world(tmp_path_factory.mktemp("schemas") / "custody.db"))
    found = [e.body for n in world.app.recorder.select_notifications(start=1, limit=1000)
             for e in [world.app.mapper.to_domain_event(n)]]
    world.app.close()
    return found


def mutations(body):
    for key in body:
        dropped = dict(body)
        del dropped[key]
        yield f"without {key}", dropped
        for value in (None, 7, "x", [], {}):
            changed = dict(body, **{key: value})
            yield f"{key}={value!r}", changed
    yield "unknown field", dict(body, colour="red")
    for key, value in body.items():
        if isinstance(value, dict):
            for inner in value:
                nested = copy.deepcopy(body)
                nested[key][inner] = 12345
                yield f"{key}.{inner}=12345", nested


def test_the_scenario_covers_most_event_types(bodies):
    assert len({b["type"] for b in bodies}) >= 15


FORMS = ("compiled", "flat", "written")


def test_all_schema_forms_agree_on_every_body_and_every_mutation(bodies):
    checked = 0
    for body in bodies:
        assert all(schemas.body_problems(body, form=form) == [] for form in FORMS)
        for what, mutant in mutations(body):
            refused = {form: bool(schemas.body_problems(mutant, form=form)) for form in FORMS}
            assert len(set(refused.values())) == 1, f"{body['type']} {what}: {refused}"
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("value", [True, "2", 0, None])
def test_the_compiled_check_refuses_what_jsonschema_refuses_for_a_step_number(bodies, value):
    """Booleans and numerals are not step numbers, in either library (floats never reach a schema: the canonical codec refuses them)."""
    body = dict(next(b for b in bodies if b["type"] == "lot.registered"), seq=value)
    compiled = schemas.body_problems(body)
    assert compiled and compiled == schemas.body_problems(body, form="flat")
    assert compiled[0].startswith("seq: ")


@pytest.mark.parametrize("field, value", [
    ("person.id", "STF-09\n"), ("person.public_key", "ab" * 32 + "\n"),
    ("occurred_at", "2026-06-06T05:00:00.000000Z\n"), ("ledger", "test-ledger\n"),
])
def test_a_trailing_newline_never_passes_a_pattern(bodies, field, value):
    """Python's re lets '$' match before a final newline; the schemas must not."""
    enrolment = copy.deepcopy(next(b for b in bodies if b["type"] == "person.enrolled"))
    target, key = (enrolment["person"], field.split(".")[1]) if "." in field else (enrolment, field)
    target[key] = value
    for form in FORMS:
        assert schemas.body_problems(enrolment, form=form), form


def test_the_report_schema_lists_exactly_the_finding_codes():
    """A finding code missing from report.schema.json makes `verify --json` emit a report its
    own documented schema refuses (KEY_EXPIRED was missing)."""
    import json
    from importlib import resources

    from ledger.core.findings import CODES

    schema = json.loads(resources.files("schemas").joinpath("report.schema.json").read_text())
    listed = schema["properties"]["findings"]["items"]["properties"]["code"]["enum"]
    assert sorted(listed) == sorted(CODES)
