"""The plain definitions of ``schemas/common.json`` checked with ``re`` alone.

Every id, party, text or hash option of the CLI is checked against the definition of the
event field it fills (``ledger.domain.schemas.value_problem``, through jsonschema). Loading
jsonschema costs more than the rest of a quick command's start-up, so a value is first
tried here: a definition that is only a string with a pattern and lengths is checked as
jsonschema checks it (``re.search``, ``len``). Only a value this cannot accept is handed to
jsonschema, which says what is wrong with it; so the two never disagree on what passes
(``tests/unit/test_definitions.py``).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Any

import schemas

_PLAIN = frozenset({"type", "pattern", "minLength", "maxLength", "description"})


@lru_cache(maxsize=None)
def _plain(kind: str) -> tuple[int, int | None, re.Pattern[str]] | None:
    # Read beside the package (importlib.resources would cost more than this whole check).
    with open(os.path.join(os.path.dirname(schemas.__file__), "common.json"), "rb") as handle:
        definition = json.loads(handle.read())["$defs"][kind]
    if set(definition) - _PLAIN or definition.get("type") != "string":
        return None  # anything more than a plain string is jsonschema's to judge
    return (definition.get("minLength", 0), definition.get("maxLength"),
            re.compile(definition.get("pattern", "")))


def plainly_valid(kind: str, value: Any) -> bool:
    """Whether ``value`` is a valid ``kind`` by a plain definition of ``common.json``. False
    means only "not decided here": ask ``value_problem``."""
    plain = _plain(kind)
    if plain is None or not isinstance(value, str):
        return False
    shortest, longest, pattern = plain
    return (len(value) >= shortest and (longest is None or len(value) <= longest)
            and pattern.search(value) is not None)
