"""Plain-text rendering of receipts, steps and reports. Only cli/ prints."""

from __future__ import annotations

import re
import sys
from typing import Any, Callable, TextIO

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


def describe(body: dict[str, Any]) -> str:
    """A step in plain words: what a signer reads before signing."""
    lines = [f"{body['type']} for {body['stream']} (step {body['seq']} of ledger {body['ledger']})",
             f"  occurred at {body['occurred_at']}" + (f" at {body['location']}"
                                                        if "location" in body else "")]
    lines += [f"  {line}" for line in _details(body)]
    if body.get("attendees"):
        lines.append("  present: " + ", ".join(f"{a['person']} ({a['role']})"
                                              for a in body["attendees"]))
    if "acknowledged_violation" in body:
        lines.append(f"  ACKNOWLEDGED VIOLATION: {body['acknowledged_violation']['reason']}")
    lines.append(f"  follows {body['prev'][:16]}…; judged by policy "
                 f"{body['policy']['id']} v{body['policy']['version']}" if "policy" in body
                 else f"  follows {body['prev'][:16]}…")
    return "\n".join(lines)


def _details(body: dict[str, Any]) -> list[str]:
    out = []
    if "lot" in body:
        lot = body["lot"]
        out.append(f"{lot['kind']} {lot['exam']}/{lot['subject']}, count {lot['count']}, "
                   f"seals {', '.join(lot['seals'])}; holder {body.get('holder', '-')}")
    moves = [body.get(k) for k in ("from", "to")]
    if "vehicle" in body:
        moves = [body.get("from"), f"vehicle:{body['vehicle']}", body.get("to")]
    if "room" in body and isinstance(body["room"], str):
        moves = [body.get("from"), f"room:{body['room']}", body.get("to")]
    moves = [m for m in moves if m]
    if len(moves) > 1:
        out.append(" -> ".join(moves))
    checked = []
    if "count_checked" in body:
        checked.append(f"count {body['count_checked']}")
    if "seals_checked" in body:
        checked.append(f"seals {', '.join(body['seals_checked'])}")
    if "seals_applied" in body:
        checked.append(f"new seals {', '.join(body['seals_applied'])}")
    if checked:
        out.append("checked: " + ", ".join(checked))
    for key in ("container", "destination", "route", "observed", "reason"):
        if key in body:
            out.append(f"{key}: {body[key]}")
    if "corrects" in body:
        out.append(f"corrects step {body['corrects']['seq']} ({body['corrects']['event_hash'][:16]}…)")
    for key in ("incident", "report", "person"):
        if key in body:
            out.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in body[key].items()
                                              if k != "public_key"))
    if body.get("evidence"):
        out.append(f"evidence: {len(body['evidence'])} digest(s)")
    return out


def step(event: Recorded, member: Callable[[str], Any], container: str | None = None) -> str:
    """One step, as ``history`` lists it; ``container``: a step the lot took packed in it."""
    body = event.body
    head = f"{body['seq']:>3}  {body['occurred_at']}  {body['type']:<22} at {body['location']}"
    if container is not None:
        head += f"  [step of container {container}]"
    lines = [head] + [f"     {line}" for line in _details(body)]
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
    lines = [f"{f.severity.value.upper():<7} {f.code:<22} "
             + (f"position {f.position} " if f.position is not None else "")
             + (f"{f.stream}: " if f.stream else ": ") + f.message for f in r.findings]
    verdict = "intact (with warnings)" if r.intact else f"NOT intact: {len(r.errors)} error(s)"
    lines.append(f"{verdict}: {where}: {summary} checked")
    return "\n".join(lines)


def status_line(lot: Any, holder: str | None, findings: int) -> str:
    health = "clean" if findings == 0 else f"{findings} finding(s)"
    flags = [f for f, on in (("unsealed", lot.unsealed), ("closed", lot.closed)) if on]
    packed = f" in {lot.packed_in}" if lot.packed_in else ""
    return (f"{lot.lot_id:<16} {lot.kind:<14} {lot.exam}/{lot.subject:<10} "
            f"held by {holder or '-'}{packed}; last {lot.last_type} at {lot.location} "
            f"{lot.last_occurred_at}" + (f" [{', '.join(flags)}]" if flags else "")
            + f" — {health}")
