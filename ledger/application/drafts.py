"""Draft files for offline co-signing: an unsigned (or partly signed) event, as canonical JSON.

The file is written in exactly one form (sorted keys, two-space indent, UTF-8, final
newline); the parser refuses anything else, so a draft changed by hand or damaged in transit
is caught before anyone signs it. Signatures are lowercase hex.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from ledger.core.errors import InputError
from ledger.domain.aggregates import check_event

FORMAT = "custody-draft/1"
MAX_DRAFT = 256 * 1024
_SIGNATURE = re.compile(r"[0-9a-f]{128}")


def format_draft(body: Mapping[str, Any], signatures: Mapping[str, bytes]) -> str:
    """The one text of a draft."""
    document = {"format": FORMAT, "body": body,
                "signatures": {p: s.hex() for p, s in sorted(signatures.items())}}
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def parse_draft(data: bytes, *, source: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parse a draft file; refuse anything that is not exactly what format_draft writes."""
    if len(data) > MAX_DRAFT:
        raise InputError(f"draft {source} is over {MAX_DRAFT} bytes; not a draft")
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"draft {source} is not a draft file: {exc}") from None
    if not isinstance(document, dict) or set(document) != {"format", "body", "signatures"} \
            or document["format"] != FORMAT:
        raise InputError(f"draft {source} is not a {FORMAT} file")
    body, raw = document["body"], document["signatures"]
    if not isinstance(body, dict) or not isinstance(raw, dict) or not all(
            isinstance(v, str) and _SIGNATURE.fullmatch(v) for v in raw.values()):
        raise InputError(f"draft {source} has a malformed body or signature")
    signatures = {p: bytes.fromhex(v) for p, v in raw.items()}
    if format_draft(body, signatures).encode("utf-8") != data:
        raise InputError(f"draft {source} was edited by hand or damaged; draft the step again")
    check_event(body)
    return body, signatures


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
    return dict(pairs)
