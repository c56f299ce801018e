"""Every event's body as a msgspec Struct: the schemas of ``schemas/`` in compiled form.

``schemas/`` stays the definition of every event body (people read it, ``domain/schemas.py``
checks drafts against it, jsonschema explains each refusal field by field). This module
declares the same bodies as typed msgspec Structs, checked in C: the steps a ledger holds
millions of — every ``lot.*`` step, duty shifts, patrols, incident and zero reports — so the
verifier's row stage decodes and validates a stored step in C (``compiled_rows.py``); and the
authority's events (genesis, roster, rooms, sites, policies: a few thousand a ledger, which
take the reference path ``stored.prepare``), so that no command that only reads valid ones
compiles a JSON Schema or loads jsonschema (a recording command reads the genesis and its
signers' enrolments: ~60 ms of its start-up).

A Struct states what its schema states: the same fields, the same required ones, nothing
else accepted (``forbid_unknown_fields``), the same types, patterns (from ``common.json``
itself), lengths, bounds and constants. ``tests/unit/test_structs.py`` holds every Struct's
own JSON Schema (``msgspec.json.schema``) equal to the flat form of its schema file. Three
things a Struct cannot say are checked beside it, in ``problems``: that a version 1 body
carries no field version 2 introduced (a step's ``place``, the genesis's ``time_zone``, a
room's ``within``: the schemas' if/then), arrays whose schema says ``uniqueItems``
(``UNIQUE``, and each policy requirement's roles), and the canonical encoding's rule that
text is in Unicode NFC.

Fields are declared in the canonical key order (sorted), and absent optional fields are
``UNSET``, so encoding a decoded Struct gives back the canonical bytes of its body: a stored
body that is not canonical (keys out of order or given twice, a non-minimal header) encodes
to other bytes, which ``compiled_rows`` refuses to take on trust.
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from ledger.core.kinds import BY_NAME, ROOM_PLACED

_SCHEMAS = resources.files("schemas")
_DEFS = json.loads(_SCHEMAS.joinpath("common.json").read_text("utf-8"))["$defs"]
_POLICY = json.loads(_SCHEMAS.joinpath("policy.schema.json").read_text("utf-8"))
_GENESIS = json.loads(_SCHEMAS.joinpath("events/ledger.genesis.json").read_text("utf-8"))

Id = Annotated[str, Meta(pattern=_DEFS["id"]["pattern"])]
Text = Annotated[str, Meta(min_length=1, max_length=200, pattern=_DEFS["text"]["pattern"])]
Note = Annotated[str, Meta(max_length=2000, pattern=_DEFS["note"]["pattern"])]
Timestamp = Annotated[str, Meta(pattern=_DEFS["timestamp"]["pattern"])]
Hash = Annotated[str, Meta(pattern=_DEFS["hash"]["pattern"])]
Party = Annotated[str, Meta(pattern=_DEFS["party"]["pattern"])]
Place = Annotated[str, Meta(pattern=_DEFS["place"]["pattern"])]
Role = Literal["police", "staff", "inspector", "authority"]
Count = Annotated[int, Meta(ge=1, le=1_000_000)]
Seals = Annotated[list[Id], Meta(min_length=1, max_length=200)]
Kind = Literal["question_paper", "answer_sheet", "spare_paper", "container"]


class _Part(Struct, forbid_unknown_fields=True, kw_only=True):
    """A nested object of a body: closed, fields in canonical order."""


class Attendee(_Part):
    person: Id
    role: Role


class PolicyRef(_Part):
    id: Id
    version: Annotated[int, Meta(ge=1)]


class Acknowledged(_Part):
    reason: Text


class LotRecord(_Part):
    count: Count
    exam: Id
    id: Id
    kind: Kind
    seals: Seals
    subject: Text


class Corrects(_Part):
    event_hash: Hash
    seq: Annotated[int, Meta(ge=1)]


class Incident(_Part, kw_only=True):
    id: Id
    lots: Union[Annotated[list[Id], Meta(max_length=200)], UnsetType] = UNSET
    what: Note


class Period(_Part):
    end: Timestamp
    start: Timestamp


class ZeroReport(_Part):
    id: Id
    period: Period
    scope: Text


class Person(_Part, kw_only=True):
    id: Id
    name: Text
    public_key: Hash
    role: Role
    unit: Text
    valid_until: Union[Timestamp, UnsetType] = UNSET


class Authority(Person, kw_only=True):
    """A person the genesis or an authority set names: the role is authority."""

    role: Literal["authority"]


class Requirement(_Part):
    at_least: Annotated[int, Meta(ge=1, le=64)]
    roles: Annotated[list[Role], Meta(min_length=1)]


class StepRule(_Part):
    require: Annotated[list[Requirement], Meta(max_length=16)]


class Policy(_Part, kw_only=True):
    """``schemas/policy.schema.json``."""

    description: Union[Annotated[str, Meta(max_length=500, pattern=_DEFS["note"]["pattern"])],
                       UnsetType] = UNSET
    id: Id
    presence_window_minutes: Union[Annotated[int, Meta(ge=0, le=1440)], UnsetType] = UNSET
    steps: Annotated[dict[Annotated[str, Meta(pattern=_POLICY["properties"]["steps"]
                                              ["propertyNames"]["pattern"])], StepRule],
                     Meta(min_length=1, max_length=64)]
    version: Annotated[int, Meta(ge=1)]


class Witness(_Part):
    id: Id
    public_key: Hash


class RoomRecord(_Part, kw_only=True):
    id: Id
    licence: Text
    name: Text
    valid_from: Timestamp
    valid_until: Timestamp
    within: Union[Id, UnsetType] = UNSET


class SiteRecord(_Part, kw_only=True):
    id: Id
    name: Text
    within: Union[Id, UnsetType] = UNSET


# The fields every event carries (the envelope), those every step carries beside them, then
# each type's own.
_ENVELOPE: dict[str, Any] = {
    "ledger": Id,
    "occurred_at": Timestamp,
    "prev": Hash,
    "schema": Literal[1, 2],
}
_STEP: dict[str, Any] = {
    **_ENVELOPE,
    "acknowledged_violation": (Union[Acknowledged, UnsetType], UNSET),
    "attendees": Annotated[list[Attendee], Meta(min_length=1, max_length=64)],
    "evidence": (Union[Annotated[list[Hash], Meta(max_length=32)], UnsetType], UNSET),
    "location": Text,
    "note": (Union[Note, UnsetType], UNSET),
    "place": (Union[Place, UnsetType], UNSET),
    "policy": PolicyRef,
}
_CHECKED = {"seals_checked": Seals, "count_checked": Count}
_FIRST = Literal[1]  # the step that starts its stream
_LATER = Annotated[int, Meta(ge=2)]

# type -> its own fields, for each of ``kinds.STEPS`` (its stream, and whether it starts it,
# are the registry's: ``ledger.core.kinds``).
STEPS: dict[str, dict[str, Any]] = {
    "lot.registered": {"lot": LotRecord, "holder": Party},
    "lot.transport_departed": {
        "from": Party, "vehicle": Id, "destination": Text, **_CHECKED,
        "escort": (Union[Annotated[list[Id], Meta(max_length=16)], UnsetType], UNSET),
        "route": (Union[Text, UnsetType], UNSET)},
    "lot.transport_arrived": {"vehicle": Id, "to": Party, **_CHECKED},
    "lot.handed_over": {"from": Party, "to": Party, **_CHECKED},
    "lot.stored": {"from": Party, "room": Id, **_CHECKED},
    "lot.retrieved": {"room": Id, "to": Party, **_CHECKED},
    "lot.distributed": {"from": Party, "to": Party, **_CHECKED},
    "lot.unsealed": dict(_CHECKED),
    "lot.collected": {"from": Party, "to": Party, "count_checked": Count, "seals_applied": Seals},
    "lot.returned": {"from": Party, "to": Party, **_CHECKED},
    "lot.packed": {"container": Id},
    "lot.unpacked": {"container": Id, "holder": Party},
    "lot.corrected": {"corrects": Corrects, "reason": Text,
                      "count": (Union[Count, UnsetType], UNSET),
                      "seals": (Union[Seals, UnsetType], UNSET)},
    "duty.started": {},
    "duty.ended": {},
    "room.patrolled": {"observed": Note},
    "incident.reported": {"incident": Incident},
    "zero.reported": {"report": ZeroReport},
}
# The authority's events: type -> its own fields (beside the envelope's).
_LATER_IN_LEDGER = {"stream": Annotated[str, Meta(max_length=80, pattern="^ledger$(?!\\n)")],
                    "seq": _LATER}
AUTHORITY: dict[str, dict[str, Any]] = {
    "ledger.genesis": {
        "authority": Authority, "policy": Policy, "stream": Literal["ledger"], "seq": _FIRST,
        "time_zone": (Union[Annotated[str, Meta(
            max_length=64, pattern=_GENESIS["properties"]["time_zone"]["pattern"])],
            UnsetType], UNSET),
        "witnesses": (Union[Annotated[list[Witness], Meta(min_length=1, max_length=16)],
                            UnsetType], UNSET)},
    "ledger.policy_set": {"policy": Policy, **_LATER_IN_LEDGER},
    "ledger.authority_set": {
        "authorities": Annotated[list[Authority], Meta(min_length=1, max_length=16)],
        "threshold": Annotated[int, Meta(ge=1, le=16)], **_LATER_IN_LEDGER},
    "ledger.log_key_set": {"log_key": Hash, **_LATER_IN_LEDGER},
    "person.enrolled": {"person": Person},
    "person.key_revoked": {"reason": Text},
    "person.key_rotated": {"public_key": Hash},
    "room.registered": {"room": RoomRecord},
    "site.registered": {"site": SiteRecord, "schema": Literal[2]},
}
# The field version 2 of the schemas introduced, which a version 1 body may not carry (the
# schemas' if/then), by type; a site, new in version 2, is always version 2.
SCHEMA_2: dict[str, tuple[str, ...]] = {
    **{t: ("place",) for t in STEPS if t not in ROOM_PLACED},
    "ledger.genesis": ("time_zone",), "room.registered": ("room", "within")}

DECLARED = frozenset(STEPS) | frozenset(AUTHORITY)  # every type with a Struct

# Arrays whose schema says uniqueItems: (field, or (field, nested field)). Every step's
# evidence, the seals a step checks, and each type's own.
UNIQUE: dict[str, tuple[tuple[str, ...], ...]] = {
    t: (("evidence",), ("seals_checked",)) if "seals_checked" in own else (("evidence",),)
    for t, own in STEPS.items()}
UNIQUE.update({
    "lot.registered": (("evidence",), ("lot", "seals")),
    "lot.transport_departed": (("evidence",), ("seals_checked",), ("escort",)),
    "lot.collected": (("evidence",), ("seals_applied",)),
    "lot.corrected": (("evidence",), ("seals",)),
    "incident.reported": (("evidence",), ("incident", "lots")),
})
# Text the canonical encoding requires in NFC: (field, or (field, nested field)).
_TEXTS = (("location",), ("note",), ("acknowledged_violation", "reason"))  # place is ASCII
TEXT: dict[str, tuple[tuple[str, ...], ...]] = {t: _TEXTS for t in STEPS}
TEXT.update({
    "lot.registered": (*_TEXTS, ("lot", "subject")),
    "lot.transport_departed": (*_TEXTS, ("destination",), ("route",)),
    "lot.corrected": (*_TEXTS, ("reason",)),
    "room.patrolled": (*_TEXTS, ("observed",)),
    "incident.reported": (*_TEXTS, ("incident", "what")),
    "zero.reported": (*_TEXTS, ("report", "scope")),
})


def _attribute(name: str) -> str:
    return "from_" if name == "from" else name


@lru_cache(maxsize=None)
def struct(event_type: str) -> type[Struct]:
    """The Struct of one event type's body (fields in canonical order)."""
    kind = BY_NAME[event_type]
    common = {"seq": _FIRST if kind.starts else _LATER,
              "type": Literal[event_type],  # type: ignore[valid-type]
              "stream": Annotated[str, Meta(max_length=80, pattern=f"^{kind.stream}:")]}
    if event_type in AUTHORITY:
        fields = {**_ENVELOPE, **common, **AUTHORITY[event_type]}
    else:
        fields = {**_STEP, **STEPS[event_type], **common}
    if event_type in ROOM_PLACED:  # the room is the step's place: its body names no other
        del fields["place"]
    declared = []
    for name in sorted(fields):  # the canonical key order: the encoding keeps it
        spec = fields[name]
        declared.append((_attribute(name), *spec) if isinstance(spec, tuple)
                        else (_attribute(name), spec))
    return msgspec.defstruct(
        "".join(part.title() for part in event_type.replace(".", "_").split("_")), declared,
        kw_only=True, forbid_unknown_fields=True, rename={"from_": "from"},
        module=__name__)


class _Type(Struct):
    type: str


_type_decoder = msgspec.msgpack.Decoder(_Type)
_encoder = msgspec.msgpack.Encoder()


@lru_cache(maxsize=None)
def _decoder(event_type: str) -> msgspec.msgpack.Decoder:
    return msgspec.msgpack.Decoder(struct(event_type))


def body_type(raw: bytes) -> str | None:
    """The ``type`` a stored body names, if it is a map with a string ``type``."""
    try:
        return _type_decoder.decode(raw).type
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def decode(event_type: str, raw: bytes) -> Struct:
    """Decode a stored body of a declared type; raise msgspec's errors if it breaks the
    Struct (its schema, less ``problems``' two checks)."""
    return _decoder(event_type).decode(raw)


def accepts(event_type: str, raw: bytes) -> bool:
    """Whether ``raw`` is a body its declared type's Struct accepts: it decodes, and
    passes what the Struct cannot say (``problems``). Such a body is valid by its schema."""
    try:
        return not problems(event_type, decode(event_type, raw), raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False


def problems(event_type: str, body: Struct, raw: bytes) -> bool:
    """Whether a decoded body fails what its Struct cannot say: a field of version 2 in a
    version 1 body (the schemas' if/then), unique arrays, NFC text, or the canonical bytes
    (``raw`` is not what the body encodes to)."""
    if body.schema == 1 and event_type in SCHEMA_2 and _get(body, SCHEMA_2[event_type]) is not UNSET:
        return True
    for path in UNIQUE.get(event_type, ()):
        items = _get(body, path)
        if items is not UNSET and len(set(items)) != len(items):
            return True
    policy = getattr(body, "policy", None)
    if isinstance(policy, Policy) and any(len(set(r.roles)) != len(r.roles)
                                          for rule in policy.steps.values() for r in rule.require):
        return True
    if event_type in AUTHORITY:
        if _not_nfc(body):  # a few thousand a ledger: every text in them
            return True
    else:
        for path in TEXT[event_type]:
            text = _get(body, path)
            if text is not UNSET and _not_nfc(text):
                return True
    return _canonical(_encoder.encode(body)) != raw


def _not_nfc(value: Any) -> bool:
    """Whether any text in ``value`` (a string, a Struct, a list or a map, keys included) is
    not in Unicode NFC."""
    if isinstance(value, str):
        return not value.isascii() and not unicodedata.is_normalized("NFC", value)
    if isinstance(value, Struct):
        return any(_not_nfc(getattr(value, name)) for name in value.__struct_fields__)
    if isinstance(value, list):
        return any(_not_nfc(item) for item in value)
    if isinstance(value, dict):
        return any(_not_nfc(key) or _not_nfc(item) for key, item in value.items())
    return False


def _canonical(encoded: bytes) -> bytes:
    """A body's encoding with the shortest map header. msgspec writes a map16 header for a
    Struct of 16 or more fields before leaving out those UNSET; canonical is a fixmap below
    16 keys."""
    if encoded[0] != 0xDE:
        return encoded
    keys = int.from_bytes(encoded[1:3], "big")
    return bytes([0x80 | keys]) + encoded[3:] if keys < 16 else encoded


def _get(body: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        body = getattr(body, _attribute(name), UNSET)
        if body is UNSET:
            return UNSET
    return body
