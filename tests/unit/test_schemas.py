"""The flat and compiled schemas accept exactly what the schema files as written accept."""

from __future__ import annotations

import copy

import msgspec
import pytest

from ledger.core import canonical
from ledger.domain import schemas, structs
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


HOSTILE = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\u00ad", "\u200b", "\u200f",
           "\u202e", "\u2028", "\u2029", "\u2066", "\ufeff", "\U000e0041", "\udcff"]


SAMPLE = ["\x00", "\n", "\x1b", "\x9b", "\u200b", "\u202e", "\u2028", "\udcff"]


def string_fields(value, path=()):
    """(path, string) for every string in a body, however deep."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from string_fields(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from string_fields(inner, (*path, index))


def with_string(body, path, value):
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def one_of_each_type(bodies):
    return list({b["type"]: b for b in bodies}.values())


def test_no_string_of_any_body_takes_a_control_or_invisible_character(bodies):
    """Ids, texts, notes, parties, hashes, times: none takes C0, C1, DEL, Cf, U+2028/2029
    or a lone surrogate, anywhere in it, in any schema form. The stream is checked against
    the ids of the body (aggregates.stream_problem), not by the schema."""
    from ledger.domain.aggregates import stream_problem

    checked = 0
    for body in one_of_each_type(bodies):
        for path, value in string_fields(body):
            for char in SAMPLE:
                inserted = value[:1] + char + value[1:]
                for hostile in (inserted, value + char) if char == "\n" else (inserted,):
                    mutant = with_string(body, path, hostile)
                    if path == ("stream",):
                        assert schemas.body_problems(mutant) or stream_problem(mutant), hostile
                        continue
                    forms = FORMS if char == "\u200b" and hostile[-1] != char else ("compiled",)
                    for form in forms:
                        assert schemas.body_problems(mutant, form=form), (form, path, hostile)
                    checked += 1
    assert checked > 1500


@pytest.mark.parametrize("char", HOSTILE)
@pytest.mark.parametrize("kind", ["text", "note", "id", "party"])
def test_every_refused_character_is_refused_by_every_kind_of_string(char, kind):
    for value in ("Room" + char, char + "Room", "Ro" + char + "om"):
        assert schemas.value_problem(kind, value), (kind, value)


@pytest.mark.parametrize("field", ["location", "note", "acknowledged_violation.reason",
                                   "lot.subject", "lot.exam", "holder"])
def test_a_refused_character_is_named_by_its_code_point(bodies, field):
    registration = next(b for b in bodies if b["type"] == "lot.registered")
    path = tuple(field.split("."))
    mutant = with_string(dict(registration, note="n", acknowledged_violation={"reason": "r"}),
                         path, "Room 1\n     present: POL-01 (police)")
    problems = {form: schemas.body_problems(mutant, form=form) for form in FORMS}
    assert problems["compiled"] == problems["flat"]
    assert problems["compiled"][0].startswith(f"{field}: contains U+000A, a control or invisible "
                                              "character")
    assert "\n" not in problems["compiled"][0]


def test_printable_unicode_text_is_accepted(bodies):
    registration = next(b for b in bodies if b["type"] == "lot.registered")
    text = "广东省 第一中学 — Prüfungsraum «3» 𠀀"
    body = dict(registration, location=text, note=text + " " * 3)
    assert all(schemas.body_problems(body, form=form) == [] for form in FORMS)


def test_texts_are_bounded(bodies):
    registration = next(b for b in bodies if b["type"] == "lot.registered")
    assert schemas.body_problems(dict(registration, location="x" * 200)) == []
    assert schemas.body_problems(dict(registration, location="x" * 201)) == [
        "location: is 201 characters long; at most 200 are accepted"]
    assert schemas.body_problems(dict(registration, note="x" * 2001)) == [
        "note: is 2001 characters long; at most 2000 are accepted"]


@pytest.mark.parametrize("value, accepted", [
    ("MATH-Q-0001", True), ("a.b_c-9", True), ("x" * 64, True), ("x" * 65, False),
    ("-A", False), (".A", False), ("A B", False), ("A:B", False), ("MATH-Q-0001\u200b", False),
    ("ＭATH", False), ("Аlpha", False), ("", False), ("A/B", False),
])
def test_one_id_pattern(value, accepted):
    """ASCII letters and digits, then also '.', '_', '-'; fullwidth and Cyrillic look-alikes
    and ':' (which separates a party's or a stream's kind from its id) are refused."""
    assert (schemas.value_problem("id", value) is None) is accepted
    assert schemas.is_id(value) is accepted


def _first(bodies, event_type):
    return copy.deepcopy(next(b for b in bodies if b["type"] == event_type))


def test_every_authority_event_of_the_day_is_accepted_by_its_struct(bodies):
    """The authority's events take the Struct too (no schema compiled, jsonschema not
    loaded): each one of the exam day is accepted by its type's Struct."""
    seen = set()
    for body in bodies:
        if body["type"] in structs.AUTHORITY:
            assert structs.accepts(body["type"], canonical.encode(body)), body["type"]
            seen.add(body["type"])
    assert {"ledger.genesis", "person.enrolled", "room.registered"} <= seen


def _repeat_a_role(body):
    requirement = next(iter(body["policy"]["steps"].values()))["require"][0]
    requirement["roles"].append(requirement["roles"][0])


@pytest.mark.parametrize("event_type, change", [
    ("ledger.genesis", lambda b: b.update(schema=1, time_zone="Asia/Shanghai")),
    ("room.registered", lambda b: (b.update(schema=1), b["room"].update(within="PH"))),
    ("ledger.genesis", _repeat_a_role),
], ids=["time zone in version 1", "room within a site in version 1", "a role twice"])
def test_what_an_authority_struct_cannot_say_is_refused_as_the_schema_refuses(
        bodies, event_type, change):
    body = _first(bodies, event_type)
    change(body)
    assert not structs.accepts(event_type, canonical.encode(body))
    compiled = schemas.body_problems(body)
    assert compiled and compiled == schemas.body_problems(body, form="flat")


def test_text_not_in_nfc_is_refused_by_an_authority_struct(bodies):
    """The canonical encoder refuses such text before any schema sees it; a stored row
    written around it is refused by the Struct as well."""
    body = _first(bodies, "person.enrolled")
    body["person"]["name"] = "Cafe\u0301"  # e and a combining acute: NFC has one é
    assert not structs.accepts("person.enrolled", msgspec.msgpack.encode(body))
    body["person"]["name"] = "Caf\u00e9"
    assert structs.accepts("person.enrolled", msgspec.msgpack.encode(body))
