"""Plain-text rendering of receipts, steps and reports. Only cli/ prints."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TextIO

from cli import times
from cli.i18n import N_, _, translated
from ledger.core import kinds
from ledger.core.findings import CODES, Severity

if TYPE_CHECKING:  # types only: printing needs neither the application nor the library
    from ledger.application.custody import Receipt
    from ledger.core.findings import Report
    from ledger.domain.events import Recorded

# What a terminal may act on or hide: control characters (an escape sequence, a carriage
# return, a newline that starts a forged line), format characters (bidi overrides, zero-width
# spaces), line and paragraph separators, surrogates, private-use and unassigned characters.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def visible(text: str) -> str:
    """``text`` with every character a terminal could act on or hide shown as an escape
    (``\\x1b``, ``\\u202e``, ``\\U000e0041``). Everything ``cli/`` prints that comes from
    the ledger or the user goes through here, so stored text can never move the cursor,
    recolour the screen or start a line of its own."""
    if text.isprintable():
        return text  # the common case, decided in C
    return "".join(_escape(c) if unicodedata.category(c) in _HIDDEN_CATEGORIES else c
                   for c in text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def shown(lines: Iterable[str]) -> str:
    """Lines joined for the terminal, each escaped on its own: a newline inside a value
    prints as ``\\n``, so only the renderer's own newlines start lines."""
    return "\n".join(visible(line) for line in lines)


def json_text(data: Any) -> str:
    """``data`` as indented JSON (UTF-8 kept readable) with the characters ``visible``
    escapes written as JSON ``\\u`` escapes, which a JSON parser reads back unchanged."""
    return "\n".join(line if line.isprintable() else "".join(
        json.dumps(c)[1:-1] if unicodedata.category(c) in _HIDDEN_CATEGORIES else c for c in line)
        for line in json.dumps(data, indent=2, ensure_ascii=False).split("\n"))


def stderr() -> TextIO:
    return sys.stderr


def stderr_is_terminal() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


# Every event type, the msgid of its name in the reader's language (marked for extraction
# in the registry): English shows the type itself (unchanged output), Chinese the domain's
# word for the step (交接, 押运 ...).
EVENT_TYPES = kinds.NAMES
_EVENT_TYPES = frozenset(EVENT_TYPES)
SEVERITIES = {"error": N_("ERROR"), "warning": N_("WARNING")}


def step_name(event_type: str) -> str:
    """The name of a step (an event type) in the reader's language."""
    return _(event_type) if event_type in _EVENT_TYPES else event_type


def padded(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (a CJK character takes two)."""
    if text.isascii():
        return text.ljust(width)
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


# What to do about each finding a recorded step carries (``verify`` will report it at the
# step's position for ever), by code; ``{room}``, ``{person}`` come from its evidence.
TO_DO = {
    "DUTY_UNCOVERED": N_("start a duty shift in {room} now (custody duty start --room {room} "
                         "... --sign ...); until then the room is uncovered"),
    "PRESENCE_CONFLICT": N_("check where {person} was: if the record is wrong, record an "
                            "incident (custody record incident ...) and a correction"),
    "ACKNOWLEDGED_VIOLATION": N_("recorded as you acknowledged it; every verifier flags it "
                                 "for ever"),
    "CORRECTION": N_("every verifier flags the correction for ever"),
}


def to_do(finding: Any) -> str:
    """What to do about a finding a recorded step carries, in the reader's language ("" when
    there is nothing to say)."""
    hint = TO_DO.get(finding.code)
    if hint is None:
        return ""
    values = {k: v for k, v in finding.evidence.items() if isinstance(v, str)}
    try:
        return _(hint).format(**values)
    except (KeyError, IndexError):
        return ""


def warning_line(finding: Any) -> str:
    """``warning: CODE: message; what to do`` for a finding a recorded step carries."""
    line = _("warning: {code}: {message}").format(code=finding.code,
                                                  message=translated(finding.message))
    hint = to_do(finding)
    return _("{warning}; {what_to_do}").format(warning=line, what_to_do=hint) if hint else line


def receipt(r: Receipt) -> str:
    if r.already_recorded:
        return shown([_("already recorded: {event_type} {stream} step {seq} at position "
                        "{position} (event hash {hash}); nothing was written").format(
                            event_type=step_name(r.event_type), stream=r.stream, seq=r.seq,
                            position=r.position, hash=r.event_hash)])
    lines = [_("recorded {event_type} {stream} step {seq} at position {position}").format(
                 event_type=step_name(r.event_type), stream=r.stream, seq=r.seq,
                 position=r.position),
             _("event hash {hash}").format(hash=r.event_hash)]
    lines += [warning_line(w) for w in r.warnings]
    return shown(lines)


def describe(body: dict[str, Any]) -> str:
    """A step in plain words, then every signed field the words did not show in full: what a
    signer reads before signing. The second part is derived from the body itself, so no
    field that is signed can be left off the screen, whatever the event type."""
    # The event type is shown as signed (it is what the signature covers), not translated.
    lines = [_("{event_type} for {stream} (step {seq} of ledger {ledger})").format(
                 event_type=body["type"], stream=body["stream"], seq=body["seq"],
                 ledger=body["ledger"]),
             "  " + _("occurred at {when}").format(when=times.local(body["occurred_at"]))
             + (" " + _("at {location}").format(location=where(body))
                if "location" in body else "")]
    used = {"type", "stream", "seq", "ledger", "schema", "occurred_at", "location", "place"}
    for line, paths in _details(body):
        lines.append(f"  {line}")
        used |= paths
    if body.get("attendees"):
        lines.append("  " + _("present: {people}").format(people=_present(body)))
        used.add("attendees")
    if "acknowledged_violation" in body:
        lines.append("  " + _("ACKNOWLEDGED VIOLATION: {reason}").format(
            reason=body["acknowledged_violation"]["reason"]))
        used.add("acknowledged_violation.reason")
    if "note" in body:
        lines.append("  " + _("note: {note}").format(note=body["note"]))
        used.add("note")
    lines.append("  " + _("follows {prev} (event schema {schema})").format(
        prev=body["prev"], schema=body["schema"]))
    used.add("prev")
    if "policy" in body and isinstance(body["policy"], dict) and "version" in body["policy"]:
        lines.append("  " + _("judged by policy {policy} v{version}").format(
            policy=body["policy"]["id"], version=body["policy"]["version"]))
        used |= {"policy.id", "policy.version"}
    lines += [f"  {path}: {_value(value)}" for path, value in _fields(body) if path not in used]
    return shown(lines)


def where(body: dict[str, Any]) -> str:
    """Where a step happened: its registered place with the location as the detail
    (``site:PH (Loading bay)``), or the location alone when it names no place."""
    from ledger.core.places import place_of  # the fold's rule, when a step is shown

    place = place_of(body)
    return f"{place} ({body['location']})" if place else body["location"]


def _fields(body: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """Every field of a body as (path, value), one level into each map (``lot.count``,
    ``corrects.event_hash``); deeper maps and lists are values of their own."""
    for key, value in body.items():
        if isinstance(value, dict) and value:
            for inner, inner_value in value.items():
                yield f"{key}.{inner}", inner_value
        else:
            yield key, value


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) if value else "(none)"
    return str(value)


def _present(body: dict[str, Any]) -> str:
    return ", ".join(f"{a['person']} ({role_name(a['role'])})" for a in body.get("attendees", []))


def role_name(role: str) -> str:
    """A roster role (police, staff ...) in the reader's language."""
    from ledger.core.policy import ROLE_WORDS  # the policy's own words, when a role is shown

    return translated(ROLE_WORDS.get(role, role))


_RESTATED = (("count", N_("count")), ("seals", N_("seals")))
# A step's own fields, named in the reader's language where history and sign show them.
FIELDS = {"container": N_("container"), "escort": N_("escort"),
          "destination": N_("destination"), "route": N_("route"), "observed": N_("observed"),
          "reason": N_("reason"), "incident": N_("incident"), "report": N_("report"),
          "person": N_("person")}


def _details(body: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """The step's own fields in plain words, each line with the fields it shows in full."""
    out: list[tuple[str, set[str]]] = []
    if "lot" in body:
        lot = body["lot"]
        out.append((_("{kind} {lot} of {exam}/{subject}, count {count}, seals {seals}; "
                      "holder {holder}").format(
                        kind=_(lot["kind"]) if lot["kind"] in KIND_NAMES else lot["kind"],
                        lot=lot["id"], exam=lot["exam"], subject=lot["subject"],
                        count=lot["count"], seals=", ".join(lot["seals"]),
                        holder=body.get("holder", "-")),
                    {"lot.kind", "lot.id", "lot.exam", "lot.subject", "lot.count", "lot.seals",
                     "holder"}))
    moves = [body.get(k) for k in ("from", "to")]
    if "vehicle" in body:
        moves = [body.get("from"), f"vehicle:{body['vehicle']}", body.get("to")]
    if "room" in body and isinstance(body["room"], str):
        moves = [body.get("from"), f"room:{body['room']}", body.get("to")]
    moves = [m for m in moves if m]
    if len(moves) > 1:
        out.append((" -> ".join(moves), {"from", "to", "vehicle", "room"} & set(body)))
    checked, paths = [], set()
    for key, words in (("count_checked", N_("count")), ("seals_checked", N_("seals")),
                       ("seals_applied", N_("new seals"))):
        if key in body:
            checked.append(f"{_(words)} {_value(body[key])}")
            paths.add(key)
    if checked:
        out.append((_("checked: {what}").format(what=", ".join(checked)), paths))
    restated = [f"{_(words)} {_value(body[key])}" for key, words in _RESTATED if key in body]
    if restated:
        out.append((_("restates: {what}").format(what=", ".join(restated)),
                    {"count", "seals"} & set(body)))
    for key in ("container", "escort", "destination", "route", "observed", "reason"):
        if key in body:
            out.append((_("{field}: {value}").format(field=_(FIELDS.get(key, key)),
                                                     value=_value(body[key])), {key}))
    if "holder" in body and "lot" not in body:
        out.append((_("taken out by: {holder}").format(holder=body["holder"]), {"holder"}))
    if "corrects" in body:
        out.append((_("corrects step {seq} ({hash}…)").format(
            seq=body["corrects"]["seq"], hash=body["corrects"]["event_hash"][:16]),
            {"corrects.seq"}))
    for key in ("incident", "report", "person"):
        if key in body:
            inner = {k: v for k, v in body[key].items() if k != "public_key"}
            fields = ", ".join(f"{k}={_value(v)}" for k, v in inner.items())
            out.append((_("{field}: {value}").format(field=_(FIELDS.get(key, key)),
                                                     value=fields),
                        {f"{key}.{k}" for k in inner}))
    if body.get("evidence"):
        out.append((_("evidence: {count} digest(s)").format(count=len(body["evidence"])), set()))
    return out


def numbered(steps: Sequence[tuple[Recorded, str | None]]) -> list[str]:
    """How ``history`` numbers a lot's steps: its own by their step number (what
    ``--corrects`` takes); a step its container took while it was packed by the lot's step
    it came after and a count (2.1, 2.2 ... after packing at step 2), so the numbers only
    rise (the container's own step numbers used to restart them: 1, 2, 2, 3, 4, 3 ...)."""
    labels: list[str] = []
    own, inside = 0, 0
    for event, container in steps:
        if container is None:
            own, inside = event.body["seq"], 0
            labels.append(str(own))
        else:
            inside += 1
            labels.append(f"{own}.{inside}")
    return labels


def step(event: Recorded, member: Callable[[str], Any], container: str | None = None,
         number: str | None = None) -> str:
    """One step, as ``history`` lists it under ``number`` (``numbered``); ``container``: a
    step the lot took packed in it, marked with the container's own step number."""
    body = event.body
    head = f"{number or body['seq']:>3}  {times.local(body['occurred_at'])}  " \
        f"{padded(step_name(body['type']), 22)} " \
        + _("at {location}").format(location=where(body))
    if container is not None:
        head += "  " + _("[step {seq} of container {container}]").format(
            seq=body["seq"], container=container)
    lines = [head] + [f"     {line}" for line, _paths in _details(body)]
    lines.append("     " + _("present: {people}").format(people=_present(body)))
    if "acknowledged_violation" in body:
        lines.append("     " + _("ACKNOWLEDGED VIOLATION: {reason}").format(
            reason=body["acknowledged_violation"]["reason"]))
    if body["type"] == "lot.corrected":  # flagged forever, like an acknowledged violation
        lines.append("     " + _("CORRECTION of step {seq}: {reason}").format(
            seq=body["corrects"]["seq"], reason=body["reason"]))
    if body.get("note"):
        lines.append("     " + _("note: {note}").format(note=body["note"]))
    lines.append("     " + _("recorded {when}  hash {hash}…").format(
        when=times.local(event.timestamp), hash=event.event_hash[:16]))
    return shown(lines)


def history_object(lot_id: str, position: int | None,
                   steps: list[tuple[Recorded, str | None, Any]]) -> dict[str, Any]:
    """``history --json`` (``schemas/history.schema.json``): the lot's steps as signed, each
    with its log position, the container it was taken in, its presence record and the codes
    of its findings, and how many errors and warnings they are."""
    from ledger.core.canonical import format_timestamp

    rows = []
    for event, container, record in steps:
        codes = list(record.findings) if record is not None else []
        rows.append({
            "position": record.position if record is not None else None,
            "stream": event.body["stream"], "seq": event.body["seq"],
            "type": event.body["type"], "occurred_at": event.body["occurred_at"],
            "recorded_at": format_timestamp(event.timestamp),
            "container": container, "event_hash": event.event_hash,
            "presence": None if record is None or not record.verdict else {
                "verdict": record.verdict, "policy": record.policy,
                "missing": record.missing},
            "attendees": [] if record is None else [
                {"person": p, "role": r, "counted": c} for p, r, c in record.attendees],
            "findings": codes, "body": event.body})
    codes = [code for row in rows for code in row["findings"]]
    errors = sum(CODES[c][0] is Severity.ERROR for c in codes if c in CODES)
    return {"log_position": position, "lot": lot_id, "errors": errors,
            "warnings": len(codes) - errors, "steps": rows}


def report(r: Report, where: str) -> str:
    summary = _("{events} events, {streams} streams, {signatures} signatures").format(
        events=r.events, streams=r.streams, signatures=r.signatures)
    if r.intact and not r.findings:
        return shown([_("intact: {where}: {summary} verified").format(where=where,
                                                                      summary=summary)])
    lines = [f"{padded(_(SEVERITIES[f.severity.value]), 7)} {f.code:<22} "
             + (_("position {position} ").format(position=f.position)
                if f.position is not None else "")
             + (f"{f.stream}: " if f.stream else ": ") + translated(f.message)
             for f in r.findings]
    verdict = (_("intact (with warnings)") if r.intact else
               _("NOT intact: {errors} error(s)").format(errors=len(r.errors)))
    lines.append(_("{verdict}: {where}: {summary} checked").format(
        verdict=verdict, where=where, summary=summary))
    return shown(lines)


def status_data(lot: Any, holder: str | None, findings: int) -> dict[str, Any]:
    """One lot as ``status --json`` lists it."""
    return {"lot": lot.lot_id, "kind": lot.kind, "exam": lot.exam, "subject": lot.subject,
            "holder": holder, "packed_in": lot.packed_in, "count": lot.count,
            "seals": list(lot.seals), "last_step": lot.last_type, "location": lot.location,
            "occurred_at": lot.last_occurred_at, "unsealed": lot.unsealed, "closed": lot.closed,
            "findings": findings}


def status_object(position: int | None, verified: bool, errors: int, warnings: int,
                  lots: list[dict[str, Any]]) -> dict[str, Any]:
    """``status --json`` (``schemas/status.schema.json``): the log position answered at, the
    verdict (from the view's findings on record, or a full verification) and the lots."""
    return {"log_position": position, "verified": verified, "intact": errors == 0,
            "errors": errors, "warnings": warnings, "lots": lots}


def status_line(lot: Any, holder: str | None, findings: int) -> str:
    health = _("clean") if findings == 0 else _("{count} finding(s)").format(count=findings)
    flags = [_(f) for f, on in ((N_("unsealed"), lot.unsealed), (N_("closed"), lot.closed))
             if on]
    packed = _(" in {container}").format(container=lot.packed_in) if lot.packed_in else ""
    return shown([
        f"{lot.lot_id:<16} {padded(_(lot.kind), 14)} {lot.exam}/{lot.subject:<10} "
        + _("held by {holder}{packed}; last {step} at {location} {occurred_at}").format(
            holder=holder or "-", packed=packed, step=step_name(lot.last_type),
            location=lot.location, occurred_at=times.local(lot.last_occurred_at))
        + (f" [{', '.join(flags)}]" if flags else "") + f" — {health}"])


# The kinds of lot (ledger.core.custody.KINDS), named in the reader's language.
KIND_NAMES = (N_("question_paper"), N_("answer_sheet"), N_("spare_paper"), N_("container"))
# The presence verdicts the view stores.
VERDICTS = (N_("met"), N_("short"))


def verdict(record: Any) -> str:
    """The presence verdict line ``history`` adds under a step, from the view."""
    if record is None or not record.verdict:
        return ""
    line = "     " + _("presence: {verdict} ({policy})").format(verdict=_(record.verdict),
                                                                 policy=record.policy)
    if record.missing:
        line += _(": missing {missing}").format(missing=record.missing)
    return "\n" + visible(line)


def presence_line(row: Any) -> str:
    """One step of ``presence``: where, when, the verdict, and who counted with what role."""
    people = ", ".join(f"{person} ({role_name(role) if role else _('not enrolled')}"
                       + ("" if counted else _(", not counted")) + ")"
                       for person, role, counted in row.attendees)
    verdict = (_(row.verdict) if row.verdict else "") + (
        _(" (missing {missing})").format(missing=row.missing) if row.missing else "")
    flags = f" [{', '.join(row.findings)}]" if row.findings else ""
    return shown([f"{row.position:>6}  {times.local(row.occurred_at)}  "
                  f"{padded(step_name(row.type), 22)} "
                  + _("{stream} at {location}").format(stream=row.stream, location=row.location)
                  + f": {row.policy} {verdict}{flags} — {people}"])
