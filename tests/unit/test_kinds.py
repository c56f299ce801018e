"""The registry of event kinds (``ledger/core/kinds.py``) is the one list of event types.

It names exactly the domain's event classes and the schema files; what each row says (its
stream, whether it starts it, who signs it, whether its place is its room) is what its schema
says; each set derived from it holds the members it held when it was written by hand; and
the modules that used to write a set out take theirs from it. The one id pattern is the
schemas' id pattern too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.core import kinds
from ledger.core.canonical import ID, ID_PATTERN

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"


def schema(name: str) -> dict:
    return json.loads((ROOT / kinds.BY_NAME[name].schema).read_text("utf-8"))


# -- the registry against the domain and the schemas --------------------------------------


def test_the_registry_names_every_event_class_and_no_other():
    from ledger.domain.events import EVENT_CLASSES

    assert set(kinds.NAMES) == set(EVENT_CLASSES)
    assert len(kinds.NAMES) == len(set(kinds.NAMES)) == 27


def test_the_registry_names_every_schema_file_and_no_other():
    from ledger.domain.schemas import event_types

    files = {path.name[:-len(".json")] for path in (SCHEMAS / "events").glob("*.json")}
    assert set(kinds.NAMES) == files == set(event_types())
    assert all((ROOT / kind.schema).is_file() for kind in kinds.KINDS)


@pytest.mark.parametrize("name", kinds.NAMES)
def test_each_row_says_what_its_schema_says(name: str):
    kind, document = kinds.BY_NAME[name], schema(name)
    properties = document["properties"]
    assert properties["type"] == {"const": name}
    stream = properties["stream"]
    if kind.stream == "ledger":
        assert stream.get("const") == "ledger" or stream["pattern"] == "^ledger$(?!\\n)"
    else:
        assert stream["pattern"] == f"^{kind.stream}:"
    assert (properties["seq"] == {"const": 1}) is kind.starts
    steps = {"$ref": "../common.json#/$defs/step"} in document.get("allOf", [])
    assert steps is (kind.signed_by == kinds.ATTENDEES)
    # A step placed in its room names no other place: its schema forbids one.
    assert (properties.get("place", {}).get("not") == {}) is kind.in_room


def test_the_first_event_of_a_stream_is_a_started_class():
    from ledger.domain.events import EVENT_CLASSES, Started

    assert {t for t, cls in EVENT_CLASSES.items() if issubclass(cls, Started)} == kinds.STARTS


# -- the sets, as they were written by hand ------------------------------------------------


def test_the_authority_events_are_the_roster_rooms_sites_policies_and_log_keys():
    assert kinds.AUTHORITY_EVENTS == {
        "person.enrolled", "person.key_revoked", "person.key_rotated", "room.registered",
        "ledger.policy_set", "ledger.authority_set", "ledger.log_key_set", "site.registered"}
    assert kinds.TRUST_EVENTS == kinds.AUTHORITY_EVENTS | {"ledger.genesis"}
    assert kinds.STEPS == set(kinds.NAMES) - kinds.TRUST_EVENTS


def test_the_room_sets():
    assert kinds.ROOM_EVENTS == {"duty.started", "duty.ended", "room.patrolled"}
    assert kinds.DUTY_SHIFTS == {"duty.started", "duty.ended"}
    assert kinds.ROOM_PLACED == {"duty.started", "duty.ended", "lot.stored", "lot.retrieved"}


def test_the_lot_sets():
    assert kinds.LOT_STEPS == {
        "lot.registered", "lot.transport_departed", "lot.transport_arrived", "lot.handed_over",
        "lot.stored", "lot.retrieved", "lot.distributed", "lot.unsealed", "lot.collected",
        "lot.returned", "lot.packed", "lot.unpacked", "lot.corrected"}
    assert kinds.PACKING == {"lot.packed", "lot.unpacked"}


def test_the_streams_started_and_the_keys_named():
    assert kinds.STARTS == {"ledger.genesis", "person.enrolled", "room.registered",
                            "site.registered", "lot.registered", "incident.reported",
                            "zero.reported"}
    assert kinds.STARTING_STEPS == {"lot.registered", "incident.reported", "zero.reported"}
    assert kinds.KEY_EVENTS == {"ledger.genesis", "person.enrolled", "person.key_rotated",
                                "ledger.authority_set"}
    assert kinds.KEY_CHANGES == {"person.key_revoked", "person.key_rotated"}


def test_keys_are_named_by_the_key_events_alone():
    from ledger.core.roster import keys_named

    key = {"id": "P-1", "public_key": "ab" * 32}
    bodies = {
        "ledger.genesis": {"authority": key},
        "person.enrolled": {"person": key},
        "person.key_rotated": {"stream": "person:P-1", "public_key": "ab" * 32},
        "ledger.authority_set": {"authorities": [key]},
    }
    for name in kinds.NAMES:
        named = keys_named({"type": name, **bodies.get(name, {})})
        assert bool(named) is (name in kinds.KEY_EVENTS), name
        assert named in ([], [("P-1", bytes.fromhex("ab" * 32))]), name


# -- the modules that used to write a set out ---------------------------------------------


def test_the_core_takes_its_sets_from_the_registry():
    from ledger.core import custody, places, rules

    assert rules.STEPS == kinds.STEPS
    assert rules.ROOM_EVENTS == kinds.ROOM_EVENTS
    assert custody.LOT_STEPS == kinds.LOT_STEPS
    assert set(custody.STEPS) == kinds.LOT_STEPS - kinds.STARTS
    assert places.ROOM_PLACED == kinds.ROOM_PLACED


def test_the_domain_takes_its_sets_from_the_registry():
    from ledger.domain import aggregates, events, stored, structs

    assert set(structs.STEPS) == kinds.STEPS
    assert structs.ROOM_PLACED == kinds.ROOM_PLACED
    assert stored.KEY_EVENTS == kinds.KEY_EVENTS
    assert set(aggregates._OWN_ID) == kinds.STARTS - {"ledger.genesis"}
    assert {cls.type for cls in aggregates.AGGREGATE_FOR_START} == kinds.STARTS
    assert aggregates.AGGREGATE_FOR_START[events.IncidentReported] is aggregates.Report
    assert aggregates.AGGREGATE_FOR_START[events.Genesis] is aggregates.Ledger
    assert aggregates.AGGREGATE_FOR_START[events.LotRegistered] is aggregates.Lot


def test_the_verifier_always_checks_the_trust_events():
    from ledger.verify.rows import TRUST_EVENTS

    assert TRUST_EVENTS == kinds.TRUST_EVENTS


def test_the_cli_names_every_kind_and_records_every_step():
    from cli import render
    from cli.steps import STEPS

    assert render.EVENT_TYPES == kinds.NAMES
    # Every step is a recording command, but a lot's registration and packing (custody lot
    # register, pack, unpack: several lots at once).
    assert {step.event_type for step in STEPS} == kinds.STEPS - {"lot.registered"} - kinds.PACKING
    assert {step.event_type for step in STEPS if step.in_room} == kinds.ROOM_PLACED


def test_every_kind_name_is_translated():
    from babel.messages.pofile import read_po

    with (ROOT / "cli/locale/zh/LC_MESSAGES/custody.po").open("rb") as f:
        catalog = read_po(f, locale="zh")
    assert all(catalog.get(name) is not None and catalog.get(name).string
               for name in kinds.NAMES)


# -- the one id pattern --------------------------------------------------------------------


def test_the_id_pattern_is_the_schemas():
    defs = json.loads((SCHEMAS / "common.json").read_text("utf-8"))["$defs"]
    assert defs["id"]["pattern"] == f"^{ID_PATTERN}$(?!\\n)"
    assert defs["place"]["pattern"] == f"^(room|site):{ID_PATTERN}$(?!\\n)"
    assert defs["party"]["pattern"] == f"^((vehicle|room|site):)?{ID_PATTERN}$(?!\\n)"


@pytest.mark.parametrize("text", ["P-1", "MATH-Q-0001", "a", "x" * 64, "SR.3_b"])
def test_an_id_is_accepted(text: str):
    assert ID.fullmatch(text)


@pytest.mark.parametrize("text", ["", "-P", ".P", "x" * 65, "P 1", "room:SR-3", "P-1\n",
                                  "P\u200b1", "Ｐ1", "P/1"])
def test_anything_else_is_not_an_id(text: str):
    assert not ID.fullmatch(text)


def test_the_id_pattern_is_written_once():
    copies = [str(path.relative_to(ROOT)) for folder in ("ledger", "cli")
              for path in (ROOT / folder).rglob("*.py") if "{0,63}" in path.read_text("utf-8")]
    assert copies == ["ledger/core/canonical.py"]
