"""The event Structs (``ledger/domain/structs.py``) say exactly what ``schemas/`` says.

Each Struct's own JSON Schema (``msgspec.json.schema``), with the ``uniqueItems`` its module
checks beside it, is held equal to the flat form of the schema file that the ledger
validates drafts with, field by field: the same properties, the same required ones, closed,
the same types, patterns, lengths, bounds, constants and enums; and the one condition each
file states beyond its fields (a field version 2 introduced) is the one ``structs.problems``
checks."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ledger.domain import structs
from ledger.domain.schemas import _validator, event_types

NOISE = {"title", "description", "$schema", "$id"}


def inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return [inline(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return inline(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    return {k: ({name: inline(rule, defs) for name, rule in v.items()} if k == "properties"
                else inline(v, defs))  # a field may be named like a keyword (description)
            for k, v in schema.items() if k not in NOISE}


def normal(schema: Any) -> Any:
    """One spelling of each constraint: allOf merged (the tighter bound wins), const as a
    one-value enum (its type implied), enums and required as sets."""
    if isinstance(schema, list):
        return [normal(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    merged: dict[str, Any] = {}
    own = {k: normal(v) if k != "enum" else v for k, v in schema.items() if k != "allOf"}
    for part in [*(normal(p) for p in schema.get("allOf", [])), own]:
        for key, value in part.items():
            if key in ("minimum", "minLength", "minItems") and key in merged:
                value = max(value, merged[key])
            elif key in ("maximum", "maxLength", "maxItems") and key in merged:
                value = min(value, merged[key])
            elif key == "properties" and key in merged:  # both apply to each field
                value = {name: normal({"allOf": [merged[key][name], value[name]]})
                         if name in merged[key] and name in value
                         else merged[key].get(name, value.get(name))
                         for name in {**merged[key], **value}}
            elif key == "enum" and key in merged:  # both apply: what both allow
                value = [v for v in value if v in merged[key]]
            elif key in merged and merged[key] != value:
                raise AssertionError(f"conflicting {key}: {merged[key]} and {value}")
            merged[key] = value
    if "const" in merged:  # (beside an enum: what both allow)
        const = merged.pop("const")
        merged["enum"] = [const] if const in merged.get("enum", [const]) else []
    if "enum" in merged:
        merged["enum"] = sorted(merged["enum"], key=repr)  # an enum is a set
        merged.pop("type", None)
        if all(isinstance(v, int) for v in merged["enum"]):
            merged.pop("minimum", None)  # a constant integer: its bound says nothing more
        if all(isinstance(v, str) and len(v) <= merged.get("maxLength", len(v))
               for v in merged["enum"]):
            merged.pop("maxLength", None)  # a constant text within it: nor does its length
    if "required" in merged:
        merged["required"] = sorted(merged["required"])
    return merged


def struct_schema(event_type: str) -> dict[str, Any]:
    document = msgspec.json.schema(structs.struct(event_type))
    schema = inline(document, document["$defs"])
    for path in structs.UNIQUE.get(event_type, ()):
        target = schema
        for name in path:
            target = target["properties"][name]
        target["uniqueItems"] = True
    if "policy" in structs.AUTHORITY.get(event_type, {}):  # each requirement's roles
        policy = schema["properties"]["policy"]["properties"]["steps"]
        policy["additionalProperties"]["properties"]["require"]["items"]["properties"][
            "roles"]["uniqueItems"] = True
    return normal(schema)


def condition(event_type: str) -> dict[str, Any]:
    """The one condition a schema file states beyond its fields, as ``structs.problems``
    checks it beside the Struct: a version 1 body carries no field version 2 introduced."""
    path = structs.SCHEMA_2.get(event_type, ("place",) if event_type in structs.ROOM_PLACED
                                else None)
    if path is None:
        return {}
    then: dict[str, Any] = {"not": {"required": [path[-1]]}}
    for name in reversed(path[:-1]):
        then = {"properties": {name: then}}
    return {"if": {"properties": {"schema": {"enum": [1]}}}, "then": then}


def file_schema(event_type: str) -> dict[str, Any]:
    schema = normal(inline(_validator(f"events/{event_type}.json").schema, {}))
    found = {key: schema.pop(key) for key in ("if", "then") if key in schema}
    # (A step placed in its room forbids a place outright: the condition says nothing more.)
    assert found == condition(event_type), event_type
    # A field the schema forbids ({"not": {}}) is one a closed Struct does not declare.
    schema["properties"] = {name: rule for name, rule in schema["properties"].items()
                            if rule.get("not") != {}}
    return schema


def test_the_conditions_name_a_field_of_version_2() -> None:
    assert structs.SCHEMA_2["ledger.genesis"] == ("time_zone",)
    assert structs.SCHEMA_2["room.registered"] == ("room", "within")
    assert structs.SCHEMA_2["lot.handed_over"] == ("place",)


@pytest.mark.parametrize("event_type", sorted(structs.DECLARED))
def test_each_struct_states_its_schema_field_by_field(event_type: str) -> None:
    ours, theirs = struct_schema(event_type), file_schema(event_type)
    assert sorted(ours["properties"]) == sorted(theirs["properties"])
    for name in theirs["properties"]:
        assert ours["properties"][name] == theirs["properties"][name], name
    assert ours == theirs


def test_every_event_type_has_a_struct() -> None:
    assert structs.DECLARED == event_types()
    assert set(structs.AUTHORITY) == {
        "ledger.genesis", "ledger.policy_set", "ledger.authority_set", "ledger.log_key_set",
        "person.enrolled", "person.key_revoked", "person.key_rotated", "room.registered",
        "site.registered"}


def test_struct_fields_are_in_canonical_key_order() -> None:
    for event_type in structs.DECLARED:
        fields = structs.struct(event_type).__struct_encode_fields__
        assert list(fields) == sorted(fields), event_type


def test_a_place_in_a_version_1_body_is_a_problem_as_the_schema_says() -> None:
    fields = {"attendees": [{"person": "P-1", "role": "police"}], "ledger": "L",
              "location": "Gate", "occurred_at": "2026-06-06T06:10:00.000000Z",
              "place": "site:S01", "policy": {"id": "p", "version": 1}, "prev": "ab" * 32,
              "seq": 2, "stream": "lot:L-1", "type": "lot.handed_over", "from": "P-1",
              "to": "P-2", "seals_checked": ["S-1"], "count_checked": 1}
    for version, problem in ((1, True), (2, False)):
        raw = msgspec.msgpack.encode(dict(sorted({**fields, "schema": version}.items())))
        body = structs.decode("lot.handed_over", raw)
        assert structs.problems("lot.handed_over", body, raw) is problem, version


def test_the_steps_placed_in_their_room_are_the_folds_own() -> None:
    from ledger.core.places import ROOM_PLACED

    assert structs.ROOM_PLACED == ROOM_PLACED
