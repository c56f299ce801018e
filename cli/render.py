"""Plain-text rendering of receipts, steps and reports. Only cli/ prints."""

from __future__ import annotations

import re
import sys
from typing import Any, Callable, TextIO

import click

from ledger.application.custody import Receipt
from ledger.core.errors import InputError
from ledger.core.findings import Report
from ledger.domain.events import Recorded

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_id(value: str, what: str) -> None:
    if not _ID.fullmatch(value):
        raise InputError(f"{what} {value!r} must be 1-64 letters, digits, '.', '_' or '-'")


def stderr() -> TextIO:
    return sys.stderr


def stderr_is_terminal() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


def receipt(r: Receipt) -> str:
    lines = [f"recorded {r.event_type} {r.stream} step {r.seq} at position {r.position}",
             f"event hash {r.event_hash}"]
    lines += [f"warning: {w.code}: {w.message}" for w in r.warnings]
    return "\n".join(lines)


def step(event: Recorded, member: Callable[[str], Any]) -> str:
    body = event.body
    head = f"{body['seq']:>3}  {body['occurred_at']}  {body['type']:<16} at {body['location']}"
    lines = [head]
    if body["type"] == "lot.registered":
        lot = body["lot"]
        lines.append(f"     {lot['kind']} {lot['exam']}/{lot['subject']}, count {lot['count']}, "
                     f"seals {', '.join(lot['seals'])}; holder {body.get('holder', '-')}")
    elif body["type"] == "lot.handed_over":
        lines.append(f"     {body['from']} -> {body['to']}; count {body['count_checked']}, "
                     f"seals {', '.join(body['seals_checked'])}")
    present = ", ".join(f"{a['person']} ({a['role']})" for a in body.get("attendees", []))
    lines.append(f"     present: {present}")
    if "acknowledged_violation" in body:
        lines.append(f"     ACKNOWLEDGED VIOLATION: {body['acknowledged_violation']['reason']}")
    if body.get("note"):
        lines.append(f"     note: {body['note']}")
    lines.append(f"     recorded {event.timestamp.isoformat()}  hash {event.event_hash[:16]}…")
    return "\n".join(lines)


def report(r: Report, where: str) -> str:
    summary = f"{r.events} events, {r.streams} streams, {r.signatures} signatures"
    if r.intact and not r.findings:
        return f"intact: {where}: {summary} verified"
    lines = [f"{f.severity.value.upper():<7} {f.code:<22} position {f.position} {f.stream or ''}: "
             f"{f.message}" for f in r.findings]
    verdict = "intact (with warnings)" if r.intact else f"NOT intact: {len(r.errors)} error(s)"
    lines.append(f"{verdict}: {where}: {summary} checked")
    return "\n".join(lines)
