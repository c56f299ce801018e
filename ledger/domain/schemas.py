"""Validation of event bodies and policy files against the JSON Schemas in ``schemas/``."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ledger.core.errors import InputError

BASE = "https://custody-ledger.example/schemas/"


@lru_cache(maxsize=1)
def _registry() -> tuple[Registry, dict[str, Any]]:
    root = resources.files("schemas")
    documents: dict[str, Any] = {}
    for path in ("common.json", "policy.schema.json"):
        documents[path] = json.loads(root.joinpath(path).read_text("utf-8"))
    for entry in root.joinpath("events").iterdir():
        if entry.name.endswith(".json"):
            documents[f"events/{entry.name}"] = json.loads(entry.read_text("utf-8"))
    registry: Registry = Registry().with_resources(
        (BASE + name, Resource.from_contents(doc)) for name, doc in documents.items()
    )
    return registry, documents


@lru_cache(maxsize=None)
def _validator(name: str) -> Draft202012Validator:
    registry, documents = _registry()
    if name not in documents:
        raise KeyError(name)
    return Draft202012Validator(documents[name], registry=registry)


def event_types() -> frozenset[str]:
    """The event types that have a schema."""
    _, documents = _registry()
    return frozenset(n[len("events/"):-len(".json")] for n in documents if n.startswith("events/"))


def body_problems(body: Mapping[str, Any]) -> list[str]:
    """Return every way ``body`` breaks its type's schema, as 'field: reason' lines."""
    event_type = body.get("type") if isinstance(body, Mapping) else None
    if not isinstance(event_type, str) or event_type not in event_types():
        return [f"type: unknown event type {event_type!r}"]
    return _problems(_validator(f"events/{event_type}.json"), body)


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


def _problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    # A field that fails inside an allOf branch also makes its siblings "unevaluated";
    # rank those echoes last so the first problem names the field that is really wrong.
    def rank(error: Any) -> tuple[bool, list[str]]:
        return error.validator == "unevaluatedProperties", [str(p) for p in error.absolute_path]

    out = []
    for error in sorted(validator.iter_errors(instance), key=rank):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        out.append(f"{where}: {error.message}")
    return out
