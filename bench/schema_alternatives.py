"""How much of verify's JSON Schema cost is the way the schemas are written, not the checking.

    python bench/schema_alternatives.py --events 20000

Validates the bodies of a generated ledger several ways:

1. as the schema files are written (``$ref`` through a ``referencing`` registry, ``allOf`` +
   ``unevaluatedProperties: false``), with ``jsonschema`` 2020-12;
2. the same schema with every ``$ref`` inlined once at load time;
3. inlined, and ``unevaluatedProperties: false`` replaced by the equivalent
   ``propertyNames: {"enum": [every property any branch names]}``;
4. the ledger's own flat form (``ledger.domain.schemas``), with ``jsonschema``;
5. that flat form compiled to Python code by ``fastjsonschema``: what ``body_problems`` uses;

and checks that all of them give the same verdict on the valid bodies and on a set of broken
ones.
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any, Callable

from jsonschema import Draft202012Validator

from bench_verify import dataset
from ledger.application.custody import open_ledger
from ledger.core import canonical
from ledger.domain import schemas


def property_names(schema: Any) -> set[str]:
    names = set(schema.get("properties", {}))
    for branch in schema.get("allOf", []):
        names |= property_names(branch)
    return names


def without_unevaluated(schema: dict[str, Any]) -> dict[str, Any]:
    flat = copy.deepcopy(schema)
    del flat["unevaluatedProperties"]
    flat["propertyNames"] = {"enum": sorted(property_names(flat))}
    return flat


def validators() -> dict[str, Callable[[dict], bool]]:
    registry, documents = schemas._registry()
    inlined, flat = {}, {}
    for event_type in schemas.event_types():
        name = f"events/{event_type}.json"
        resolver = registry.resolver(schemas.BASE + name)
        body_schema = {k: v for k, v in schemas.inline_refs(documents[name], resolver).items() if k != "$id"}
        inlined[event_type] = Draft202012Validator(body_schema)
        flat[event_type] = Draft202012Validator(without_unevaluated(body_schema))
    forms: dict[str, Callable[[dict], bool]] = {
        "schema files as written: `body_problems(form=\"written\")`":
            lambda body: not schemas.body_problems(body, form="written"),
        "refs inlined at load time": lambda body: inlined[body["type"]].is_valid(body),
        "refs inlined + propertyNames instead of unevaluatedProperties":
            lambda body: flat[body["type"]].is_valid(body),
        "the ledger's flat form, jsonschema: `body_problems(form=\"flat\")`":
            lambda body: not schemas.body_problems(body, form="flat"),
        "the ledger's flat form compiled by fastjsonschema: `body_problems()`":
            lambda body: not schemas.body_problems(body),
    }
    return forms


def broken(bodies: list[dict]) -> list[dict]:
    """A few invalid variants of real bodies, one per kind of mistake."""
    out = []
    for body in bodies[:50]:
        for change in ({"extra": 1}, {"seq": 0}, {"prev": "xyz"}, {"attendees": []},
                       {"policy": {"id": "p", "version": 1, "x": 1}}, {"occurred_at": "today"}):
            out.append({**body, **change})
        out.append({k: v for k, v in body.items() if k != "prev"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=3000, help="bodies to time")
    args = parser.parse_args()
    app = open_ledger(str(dataset(args.events, 2)))
    notes = app.recorder.select_notifications(start=1, limit=args.events)
    app.close()
    bodies = [canonical.decode(n.state)["body"] for n in notes]
    sample = bodies[-args.sample:]  # lot steps, as nearly all of a real log
    bad = broken(sample)
    print("| schema form | µs/body | verdicts agree with the first row |")
    print("|---|---:|:---:|")
    reference = None
    for name, valid in validators().items():
        began = time.perf_counter()
        verdicts = [valid(body) for body in sample]
        took = (time.perf_counter() - began) / len(sample)
        verdicts += [valid(body) for body in bad]
        reference = reference or verdicts
        assert all(verdicts[:len(sample)]), f"{name} rejects a valid body"
        print(f"| {name} | {1e6 * took:,.0f} | {'yes' if verdicts == reference else 'NO'} |")


if __name__ == "__main__":
    main()
