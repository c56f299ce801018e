"""How much of verify's JSON Schema cost is the way the schemas are written, not the checking.

    python bench/schema_alternatives.py --events 20000

Validates the bodies of a generated ledger several ways (1–3 with ``jsonschema`` 2020-12):

1. as the schema files are written (``$ref`` through a ``referencing`` registry, ``allOf`` +
   ``unevaluatedProperties: false``), and as ``body_problems`` does now if it differs;
2. the same schema with every ``$ref`` inlined once at load time;
3. inlined, and ``unevaluatedProperties: false`` replaced by the equivalent
   ``propertyNames: {"enum": [every property any branch names]}`` (the event schemas list
   all their properties, so both reject exactly the unknown names).

4. when ``fastjsonschema`` is importable, form 3 compiled to Python code (draft-07);

and checks that all of them give the same verdict on the valid bodies and on a set of broken
ones. A measurement for a proposal, not a change: ``ledger/`` is untouched.
"""

from __future__ import annotations

import argparse
import copy
import inspect
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
    forms: dict[str, Callable[[dict], bool]] = {}
    if "flat" in inspect.signature(schemas.body_problems).parameters:
        # The ledger compiles its own flat form now; time the files as written beside it.
        forms["schema files as written: `body_problems(flat=False)`"] = \
            lambda body: not schemas.body_problems(body, flat=False)
        forms["the ledger's compiled flat form: `body_problems()`"] = \
            lambda body: not schemas.body_problems(body)
    else:
        forms["today: `body_problems` (registry $ref, unevaluatedProperties)"] = \
            lambda body: not schemas.body_problems(body)
    forms["refs inlined at load time"] = lambda body: inlined[body["type"]].is_valid(body)
    forms["refs inlined + propertyNames instead of unevaluatedProperties"] = \
        lambda body: flat[body["type"]].is_valid(body)
    try:  # optional: compiled to Python code, draft-07 (hence the flat form)
        import fastjsonschema
    except ImportError:
        return forms
    compiled = {t: fastjsonschema.compile({**v.schema, "$schema":
                                           "http://json-schema.org/draft-07/schema#"})
                for t, v in flat.items()}

    def fast(body: dict) -> bool:
        try:
            compiled[body["type"]](body)
            return True
        except fastjsonschema.JsonSchemaException:
            return False

    forms["flat form compiled by fastjsonschema (draft-07)"] = fast
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
