"""The step Structs (``ledger/domain/structs.py``) say exactly what ``schemas/`` says.

Each Struct's own JSON Schema (``msgspec.json.schema``), with the ``uniqueItems`` its module
checks beside it, is held equal to the flat form of the schema file that the ledger
validates drafts with, field by field: the same properties, the same required ones, closed,
the same types, patterns, lengths, bounds, constants and enums."""

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
    return {k: inline(v, defs) for k, v in schema.items() if k not in NOISE}


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
            elif key in merged and merged[key] != value:
                raise AssertionError(f"conflicting {key}: {merged[key]} and {value}")
            merged[key] = value
    if "const" in merged:
        merged["enum"] = [merged.pop("const")]
    if "enum" in merged:
        merged["enum"] = sorted(merged["enum"], key=repr)  # an enum is a set
        merged.pop("type", None)
        if all(isinstance(v, int) for v in merged["enum"]):
            merged.pop("minimum", None)  # a constant integer: its bound says nothing more
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
    return normal(schema)


# The one condition a step's schema states beyond its fields (schema 2 introduced a place):
# a Struct cannot say it, so ``structs.problems`` checks it beside the Struct.
NO_PLACE_IN_SCHEMA_1 = {"if": {"properties": {"schema": {"enum": [1]}}},
                        "then": {"not": {"required": ["place"]}}}


def file_schema(event_type: str) -> dict[str, Any]:
    schema = normal(inline(_validator(f"events/{event_type}.json").schema, {}))
    condition = {key: schema.pop(key) for key in ("if", "then") if key in schema}
    assert condition == NO_PLACE_IN_SCHEMA_1, event_type
    # A field the schema forbids ({"not": {}}) is one a closed Struct does not declare.
    schema["properties"] = {name: rule for name, rule in schema["properties"].items()
                            if rule.get("not") != {}}
    return schema


@pytest.mark.parametrize("event_type", sorted(structs.STEPS))
def test_each_step_struct_states_its_schema_field_by_field(event_type: str) -> None:
    ours, theirs = struct_schema(event_type), file_schema(event_type)
    assert sorted(ours["properties"]) == sorted(theirs["properties"])
    for name in theirs["properties"]:
        assert ours["properties"][name] == theirs["properties"][name], name
    assert ours == theirs


def test_the_structs_cover_every_step_and_only_authority_events_are_left_out() -> None:
    left = event_types() - set(structs.STEPS)
    assert left == {"ledger.genesis", "ledger.policy_set", "ledger.authority_set",
                    "ledger.log_key_set", "person.enrolled", "person.key_revoked",
                    "person.key_rotated", "room.registered", "site.registered"}


def test_struct_fields_are_in_canonical_key_order() -> None:
    for event_type in structs.STEPS:
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
