"""What ``custody report`` shows, gathered in one place: ``gather`` returns a ``ReportData``.

Every part comes from where the rest of the ledger gets it, never a second way:

- the summary and the findings from a full verification (``ledger.verify.Verifier``, as
  ``custody verify`` runs it), which never reads the view;
- each lot's custody timeline from the view's history (``ledger.projections.history``: its
  own steps and its container's while it was packed, each read from the log and checked),
  with the presence record of each step (``queries.step_records``);
- secure-room duty coverage (``rooms.py``) from the view's duty shifts, room stays and gaps
  (``queries.duty_gaps``: the intervals ``verify`` reports as ``DUTY_UNCOVERED``);
- the signed checkpoint from the transparency log (``TransparencyLog.checkpoint_covering``).

Replay data (the steps with their presence conflicts, when it lands) is added here, in
``gather``, so the template has one source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ledger.core.custody import parties
from ledger.core.errors import InputError, LedgerError
from ledger.core.findings import Finding, Report
from ledger.core.text import Message
from ledger.projections import history as lot_steps
from ledger.projections import queries
from ledger.projections.view import ViewStore
from ledger.report.rooms import RoomCoverage, coverage, selected_rooms, span_end
from ledger.report.selection import Selection

MAX_LOTS = 2000  # a report a person reads; narrow a bigger selection with --lot/--exam/--from
MAX_FINDINGS = 5000  # beyond this the table says how many more 'custody verify --json' lists
MAX_EVIDENCE_CHARS = 2000  # one evidence value, shown in full up to this


@dataclass(frozen=True)
class Attendee:
    person: str
    role: str
    counted: bool


@dataclass(frozen=True)
class Step:
    """One step of a lot's custody timeline, as signed, with its presence record."""

    position: int | None
    seq: int
    occurred_at: str
    type: str
    location: str
    from_party: str | None
    to_party: str | None
    holder_after: str | None
    container: str | None  # a step its container took while the lot was packed in it
    seals_checked: tuple[str, ...]
    count_checked: int | None
    attendees: tuple[Attendee, ...]
    verdict: str
    policy: str
    missing: str
    findings: tuple[str, ...]
    event_hash: str
    acknowledged: str | None
    correction: str | None
    note: str | None


@dataclass
class LotTimeline:
    lot_id: str
    kind: str
    exam: str
    subject: str
    count: int
    seals: tuple[str, ...]
    holder: str | None
    location: str
    steps: list[Step] = field(default_factory=list)
    error: str | None = None  # the steps could not be read (a damaged row): verify says why


@dataclass(frozen=True)
class FindingRow:
    code: str
    severity: str
    position: int | None
    stream: str | None
    message: str
    evidence: tuple[tuple[str, str], ...]  # (key, value as JSON text)


@dataclass(frozen=True)
class CheckpointInfo:
    """The signed checkpoint the report was made from, or why there is none.

    ``status``: ``covering`` (signed over the whole log the report reflects), ``partial``
    (the newest one covers fewer events), ``no_checkpoint``, ``no_log_key``, ``no_tree``."""

    status: str
    tree_size: int = 0
    size: int = 0
    root: str = ""
    note: str = ""
    log_key: str = ""  # the vkey a reader checks the note with
    signatures: int = 0


@dataclass
class ReportData:
    ledger_id: str
    database: str
    generated_at: str
    log_position: int
    selection: Selection
    intact: bool
    events: int
    streams: int
    signatures: int
    errors: int
    warnings: int
    findings: list[FindingRow]
    findings_elsewhere: int  # findings on lots or rooms outside the selection
    findings_cut: int  # findings past MAX_FINDINGS, not in the table
    lots: list[LotTimeline]
    rooms: list[RoomCoverage]
    checkpoint: CheckpointInfo


def gather(app: Any, view: ViewStore, position: int | None, selection: Selection, *,
           now: str, verify: Callable[[], Report]) -> ReportData:
    """Everything the report shows for ``selection``: ``verify`` runs a full verification of
    the ledger (``Verifier.run``; called once the selection is known to hold something, so
    a typo costs no verification), ``view`` is the view at log ``position``, ``now`` the
    canonical time the report is made at (rooms still holding papers are judged up to it)."""
    ledger = app.ledger()
    lot_ids = _selected_lots(view, selection)
    report = verify()
    lots = [_timeline(app, view, lot_id, selection) for lot_id in lot_ids]
    # A packed lot's custody is its container's: the containers it was in are covered too.
    streams = {f"lot:{lot_id}" for lot_id in lot_ids}
    streams |= {f"lot:{s.container}" for lot in lots for s in lot.steps if s.container}
    room_ids = selected_rooms(view, selection, {s.split(":", 1)[1] for s in streams})
    end = span_end(selection, now)
    rooms = [coverage(view, room_id, end, selection) for room_id in room_ids]
    rows, elsewhere = _findings(report.findings, selection, streams, set(room_ids))
    return ReportData(
        ledger_id=ledger.ledger_id, database=app.backend.label, generated_at=now,
        log_position=position or 0, selection=selection, intact=report.intact,
        events=report.events, streams=report.streams, signatures=report.signatures,
        errors=len(report.errors), warnings=len(report.findings) - len(report.errors),
        findings=rows[:MAX_FINDINGS], findings_elsewhere=elsewhere,
        findings_cut=max(0, len(rows) - MAX_FINDINGS), lots=lots, rooms=rooms,
        checkpoint=checkpoint_info(app))


# -- lots ---------------------------------------------------------------------------------

def _selected_lots(view: ViewStore, selection: Selection) -> list[str]:
    if selection.lot is not None:
        if not lot_steps.known(view, selection.lot):
            raise InputError(Message("--lot {lot}: no lot {lot} is stored; check the lot id "
                                     "('custody status' lists the lots)", lot=selection.lot))
        return [selection.lot]
    where, params = ["lot IS NOT NULL"], []
    if selection.exam is not None:
        where.append("lot IN (SELECT lot FROM view_lots WHERE exam = ?)")
        params.append(selection.exam)
    if selection.since is not None:
        where.append("occurred_at >= ?")
        params.append(selection.since)
    if selection.until is not None:
        where.append("occurred_at <= ?")
        params.append(selection.until)
    found = [lot for (lot,) in view.query(
        f"SELECT DISTINCT lot FROM view_steps WHERE {' AND '.join(where)} ORDER BY lot", params)]
    if selection.exam is not None and not found:
        if not view.query("SELECT 1 FROM view_lots WHERE exam = ? LIMIT 1", [selection.exam]):
            raise InputError(Message("--exam {exam}: no lot of exam {exam} is stored; check "
                                     "the exam id ('custody status' lists the lots)",
                                     exam=selection.exam))
    if len(found) > MAX_LOTS:
        raise InputError(Message("the report would hold {count} lots; it holds at most "
                                 "{limit}: narrow it with --lot, --exam or --from/--to",
                                 count=len(found), limit=MAX_LOTS))
    return found


def _timeline(app: Any, view: ViewStore, lot_id: str, selection: Selection) -> LotTimeline:
    rows = queries.lots_now(view, lot=lot_id)
    if rows:
        lot, held_by = rows[0]
        timeline = LotTimeline(lot_id, lot.kind, lot.exam, lot.subject, lot.count, lot.seals,
                               held_by, lot.location)
    else:  # a lot whose registration the view could not read: its steps say the rest
        timeline = LotTimeline(lot_id, "", "", "", 0, (), None, "")
    try:
        events = lot_steps.lot_history(view, app.events_at, lot_id)
    except LedgerError as error:
        timeline.error = str(error)
        return timeline
    records = _records(view, {e.body["stream"] for e, _ in events})
    holders = _holders(view, [r.position for r in records.values()])
    for event, container in events:
        body = event.body
        if not selection.within(body["occurred_at"]):
            continue
        record = records.get((body["stream"], body["seq"]))
        timeline.steps.append(_step(event, container, record, holders))
    return timeline


def _records(view: ViewStore, streams: set[str]) -> dict[tuple[str, int], Any]:
    """The presence record of every step of ``streams`` (``queries.step_records``), keyed
    by (stream, step number): one query a stream, not one a step."""
    positions = [position for stream in sorted(streams) for (position,) in view.query(
        "SELECT position FROM view_steps WHERE stream = ?", [stream])]
    return {(r.stream, r.seq): r for r in queries.step_records(view, positions).values()}


def _holders(view: ViewStore, positions: Sequence[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for i in range(0, len(positions), 500):
        part = list(positions[i:i + 500])
        out.update(view.query(f"SELECT position, holder FROM view_steps WHERE position IN "
                              f"({','.join('?' * len(part))})", part))
    return out


def _step(event: Any, container: str | None, record: Any,
          holders: dict[int, str | None]) -> Step:
    body = event.body
    position = record.position if record is not None else None
    attendees = tuple(Attendee(p, r, c) for p, r, c in record.attendees) if record else tuple(
        Attendee(a["person"], a.get("role", ""), False) for a in body.get("attendees", []))
    from_party, to_party = parties(body)
    corrects = body.get("corrects")
    return Step(
        position=position, seq=body["seq"], occurred_at=body["occurred_at"], type=body["type"],
        location=str(body.get("location", "")), from_party=from_party, to_party=to_party,
        holder_after=holders.get(position) if position is not None else None,
        container=container, seals_checked=tuple(body.get("seals_checked", ())),
        count_checked=body.get("count_checked"), attendees=attendees,
        verdict=record.verdict if record else "", policy=record.policy if record else "",
        missing=record.missing if record else "",
        findings=tuple(record.findings) if record else (), event_hash=event.event_hash,
        acknowledged=(body["acknowledged_violation"].get("reason")
                      if isinstance(body.get("acknowledged_violation"), dict) else None),
        correction=(f"step {corrects.get('seq')}: {body.get('reason', '')}"
                    if isinstance(corrects, dict) else None),
        note=body.get("note"))


# -- findings and checkpoint --------------------------------------------------------------

def _findings(findings: Sequence[Finding], selection: Selection, lots: set[str],
              rooms: set[str]) -> tuple[list[FindingRow], int]:
    """The findings that concern the selection: its lots' (and their containers'), its
    rooms', and every one that is about no lot or room (the log, the roster, the ledger)."""
    everything = selection.lot is None and selection.exam is None and not selection.windowed
    rows, elsewhere = [], 0
    for f in findings:
        stream = f.stream or ""
        kind, _, name = stream.partition(":")
        if everything or (kind == "lot" and stream in lots) or (
                kind == "room" and name in rooms) or kind not in ("lot", "room"):
            rows.append(FindingRow(f.code, f.severity.value, f.position, f.stream, f.message,
                                   tuple((str(k), _evidence(v)) for k, v in f.evidence.items())))
        else:
            elsewhere += 1
    return rows, elsewhere


def _evidence(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True, default=str)
    return text if len(text) <= MAX_EVIDENCE_CHARS else text[:MAX_EVIDENCE_CHARS] + "…"


def checkpoint_info(app: Any) -> CheckpointInfo:
    """The newest stored checkpoint signed by the ledger's log key that covers the whole log
    (or, if none does, the newest one), or why there is none."""
    from ledger.application.log import TransparencyLog
    from ledger.verify.log_keys import log_verifiers, open_log_checkpoint

    log = TransparencyLog(app)
    state = app.state()[0]
    if not log.has_tree():
        return CheckpointInfo("no_tree")
    tree_size = log.size()
    if not state.log_keys:
        return CheckpointInfo("no_log_key", tree_size)
    vkey = log_verifiers(state)[-1].key.format()
    note = log.checkpoint_covering(tree_size, state)
    status = "covering"
    if note is None:
        note, status = log.checkpoint_covering(0, state), "partial"
    if note is None:
        return CheckpointInfo("no_checkpoint", tree_size, log_key=vkey)
    opened = open_log_checkpoint(note, state)
    return CheckpointInfo(status, tree_size, opened.size, opened.root.hex(),
                          note.decode("utf-8"), vkey, note.count(b"\n\xe2\x80\x94 "))
