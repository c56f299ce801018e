"""Validation of event bodies and policy files against the JSON Schemas in ``schemas/``.

The schema files are written for people: shared definitions in ``common.json``, each event as
``allOf`` [envelope, step] plus its own fields, closed with ``unevaluatedProperties: false``.
Validating that form directly costs ~1.3 ms a body (``$ref`` lookups through the registry and
``unevaluatedProperties`` bookkeeping) — most of what the verifier spent per event. So at load
time each event schema is compiled to an equivalent flat form: every ``$ref`` inlined, the
object branches of the top-level ``allOf`` merged into one object with
``additionalProperties: false``. That flat form is then compiled to Python code by
``fastjsonschema``, ~7x faster than jsonschema on the same flat form and ~35x faster than on
the files as written (``bench/schema_alternatives.py``): the verifier checks every body of a
multi-million-event log, and this was its largest cost. jsonschema stays the reference: it explains every body the
compiled check refuses, field by field. All three forms accept exactly the same bodies; a test
checks it on every body of an exam day and over a thousand mutations of them.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from ledger.core import canonical
from ledger.core.errors import InputError
from ledger.domain import structs

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

BASE = "https://custody-ledger.example/schemas/"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"  # fastjsonschema's newest; the flat form is in it
Form = Literal["compiled", "flat", "written"]


@lru_cache(maxsize=1)
def _documents() -> dict[str, Any]:
    """Every schema file, by its name under ``schemas/``."""
    root = resources.files("schemas")
    documents: dict[str, Any] = {}
    for path in ("common.json", "policy.schema.json"):
        documents[path] = json.loads(root.joinpath(path).read_text("utf-8"))
    for entry in root.joinpath("events").iterdir():
        if entry.name.endswith(".json"):
            documents[f"events/{entry.name}"] = json.loads(entry.read_text("utf-8"))
    return documents


@lru_cache(maxsize=1)
def _registry() -> tuple[Registry, dict[str, Any]]:
    # jsonschema and referencing are imported only when a schema is compiled or a refused
    # value explained: a valid body (its type's Struct accepts it) needs neither, and they cost a
    # recording command ~35 ms of its start-up.
    from referencing import Registry, Resource

    documents = _documents()
    registry: Registry = Registry().with_resources(
        (BASE + name, Resource.from_contents(doc)) for name, doc in documents.items()
    )
    return registry, documents


@lru_cache(maxsize=None)
def _validator(name: str, *, flat: bool = True) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    registry, documents = _registry()
    if name not in documents:
        raise KeyError(name)
    if not flat:
        return Draft202012Validator(documents[name], registry=registry)
    resolver = registry.resolver(base_uri=BASE + name)
    return Draft202012Validator(_flatten(inline_refs(documents[name], resolver)))


@lru_cache(maxsize=None)
def _compiled(name: str) -> Callable[[Any], Any]:
    """The flat form of schema ``name`` as a Python function that raises on the first problem."""
    import fastjsonschema

    return fastjsonschema.compile({**_validator(name).schema, "$schema": DRAFT_07})


def inline_refs(schema: Any, resolver: Any) -> Any:
    """``schema`` with every ``$ref`` replaced by its (inlined) target.

    ``const`` and ``enum`` values are data, not schemas: they are kept as they are."""
    if isinstance(schema, list):
        return [inline_refs(item, resolver) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        target = inline_refs(resolved.contents, resolved.resolver)
        rest = {k: inline_refs(v, resolver) for k, v in schema.items() if k != "$ref"}
        return {**target, **rest} if not (set(rest) & set(target)) else {"allOf": [target, rest]}
    return {k: v if k in ("const", "enum") else inline_refs(v, resolver)
            for k, v in schema.items()}


def _flatten(schema: dict[str, Any]) -> dict[str, Any]:
    """Merge a closed event schema's top-level ``allOf`` object branches into one object."""
    if "unevaluatedProperties" not in schema:
        return schema
    properties: dict[str, list[Any]] = {}
    required: list[str] = []
    conditions: list[Any] = []  # what a part says beyond its fields (schema 2's if/then)
    for part in [*schema.get("allOf", []), schema]:
        for key, sub in part.get("properties", {}).items():
            properties.setdefault(key, []).append(sub)
        required += [r for r in part.get("required", []) if r not in required]
        rest = {k: v for k, v in part.items() if k not in _MERGED}
        if rest:
            conditions.append(rest)
    flat = {
        "type": "object",
        "properties": {k: _merge(v) for k, v in properties.items()},
        "required": required,
        "additionalProperties": False,
    }
    return {**flat, "allOf": conditions} if conditions else flat


# The keywords ``_flatten`` merges (or drops: annotations); any other keyword of a part is
# kept beside the merged object.
_MERGED = frozenset({"type", "properties", "required", "allOf", "unevaluatedProperties",
                     "$schema", "$id", "title", "description"})


def _merge(parts: list[Any]) -> Any:
    """One schema requiring all of ``parts``: a plain merge where no keyword conflicts."""
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict) or any(k in merged and merged[k] != v for k, v in part.items()):
            return {"allOf": parts}
        merged.update(part)
    return merged



@lru_cache(maxsize=None)
def event_types() -> frozenset[str]:
    """The event types that have a schema."""
    documents = _documents()
    return frozenset(n[len("events/"):-len(".json")] for n in documents if n.startswith("events/"))


def body_problems(body: Mapping[str, Any], *, form: Form = "compiled") -> list[str]:
    """Return every way ``body`` breaks its type's schema, as 'field: reason' lines.

    ``form`` picks the schema form to check with: ``compiled`` (the fast default: an event's
    msgspec Struct where it accepts the body, else the schema compiled by fastjsonschema),
    ``flat`` (jsonschema on the flat form) or ``written`` (jsonschema on the files as
    written). The last two exist for the tests and benchmarks that prove the forms
    equivalent."""
    event_type = body.get("type") if isinstance(body, Mapping) else None
    if not isinstance(event_type, str) or event_type not in event_types():
        return [f"type: unknown event type {event_type!r}"]
    name = f"events/{event_type}.json"
    if form == "compiled":
        if _struct_accepts(event_type, body):
            return []
        import fastjsonschema

        try:
            _compiled(name)(body)
            return []
        except fastjsonschema.JsonSchemaException as exc:
            # jsonschema names every problem; the compiled check only says there is one.
            return _problems(_validator(name), body) or [f"(top level): {exc.message}"]
    return _problems(_validator(name, flat=form == "flat"), body)


def _struct_accepts(event_type: str, body: Mapping[str, Any]) -> bool:
    """Whether its type's msgspec Struct (``structs.py``, held equal to its schema by
    ``tests/unit/test_structs.py``) accepts ``body``: checked in C, with no schema to compile,
    which spares a recording command the ~20 ms fastjsonschema takes to compile each schema
    it uses. The Struct is the stricter of the two (it also asks for NFC text), so a body it
    refuses is judged by the compiled schema, which has the last word."""
    if event_type not in structs.DECLARED:
        return False
    try:
        raw = canonical.encode(body)
    except (InputError, ValueError, TypeError, OverflowError):
        return False  # not encodable (a surrogate, a float, ...): the schema says what is wrong
    return structs.accepts(event_type, raw)


def schema_version(body: Mapping[str, Any]) -> int:
    """The event schema version a new body is written in: 2 when it carries a field version 2
    introduced (a step's ``place``, a room's ``within``, a site, the ledger's ``time_zone``),
    else 1, so a body without them is byte for byte what it always was."""
    room = body.get("room")
    if (body["type"] == "site.registered" or "place" in body or "time_zone" in body
            or (isinstance(room, Mapping) and "within" in room)):
        return 2
    return 1


def check_body(body: Mapping[str, Any]) -> None:
    """Raise :class:`InputError` naming the first field that breaks the schema."""
    problems = body_problems(body)
    if problems:
        raise InputError(f"event is not valid: {problems[0]}")


def check_policy(data: Any, *, source: str) -> None:
    """Raise :class:`InputError` if ``data`` is not a valid policy document."""
    problems = _problems(_validator("policy.schema.json"), data)
    if problems:
        raise InputError(f"policy {source} is not valid: {problems[0]}")


def value_problem(kind: str, value: Any) -> str | None:
    """Say why ``value`` is not a valid ``kind`` (a definition of ``common.json``: ``id``,
    ``text``, ``note``, ``party`` ...), or None if it is. The CLI checks options with it, so
    an option and the event field it fills are judged by the same definition."""
    problems = _problems(_definition(kind), value)
    return problems[0].split(": ", 1)[1] if problems else None


def is_id(value: Any) -> bool:
    """Whether ``value`` matches the one id pattern of ``common.json`` (stream names use it)."""
    return isinstance(value, str) and _id_pattern().search(value) is not None


@lru_cache(maxsize=1)
def _id_pattern() -> re.Pattern[str]:
    documents = _documents()
    return re.compile(documents["common.json"]["$defs"]["id"]["pattern"])


@lru_cache(maxsize=None)
def _definition(kind: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    registry, documents = _registry()
    if kind not in documents["common.json"]["$defs"]:
        raise KeyError(kind)
    resolver = registry.resolver(base_uri=BASE + "common.json")
    return Draft202012Validator(inline_refs({"$ref": f"#/$defs/{kind}"}, resolver))


def _problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    # A field that fails inside an allOf branch also makes its siblings "unevaluated";
    # rank those echoes last so the first problem names the field that is really wrong.
    def rank(error: Any) -> tuple[bool, list[str]]:
        return error.validator == "unevaluatedProperties", [str(p) for p in error.absolute_path]

    out = []
    for error in sorted(validator.iter_errors(instance), key=rank):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        out.append(f"{where}: {_message(error)}")
    return out


def _message(error: Any) -> str:
    """jsonschema's message, made readable where it would quote a pattern or a whole text."""
    value = error.instance
    if error.validator == "pattern" and isinstance(value, str):
        refused = _refused_character(value)
        expected = error.schema.get("description")
        if refused is not None:
            plain = expected is None or expected.startswith("plain text")
            return (f"contains U+{ord(refused):04X}, a control or invisible character"
                    + ("; only plain text on one line is accepted" if plain
                       else f"; expected {expected}"))
        if expected is not None:
            return f"{_shown(value)} is not {expected}"
    if error.validator == "maxLength" and isinstance(value, str):
        return f"is {len(value)} characters long; at most {error.validator_value} are accepted"
    if error.validator == "minLength" and isinstance(value, str):
        return "is empty" if not value else f"is shorter than {error.validator_value} characters"
    return error.message


def _refused_character(value: str) -> str | None:
    """The first character of ``value`` that ``common.json``'s text definition refuses."""
    text = _text_pattern()
    return next((c for c in value if text.search(c) is None), None)


@lru_cache(maxsize=1)
def _text_pattern() -> re.Pattern[str]:
    documents = _documents()
    return re.compile(documents["common.json"]["$defs"]["text"]["pattern"])


def _shown(value: str) -> str:
    """A value quoted in a message: escaped (repr) and cut short."""
    return repr(value if len(value) <= 80 else value[:80] + "…")
