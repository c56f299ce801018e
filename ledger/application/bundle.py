"""Export an evidence bundle: the events some lots' verification needs, each with its
inclusion proof, under one signed (and cosigned, where stored) checkpoint.

What goes in (``ledger.tlog.bundle`` is the format):

- the lots' own streams, complete, and whatever judging their steps reads, transitively
  (``custody.referenced``: the containers they were packed in, the rooms they were stored
  in, with those streams complete as well);
- the whole roster and the ledger's own stream: every ``person:`` event and the genesis,
  authority sets, policies and log keys, since who counts at a step depends on all of them.

Every event is the row as stored, so the verifier recomputes its hash itself.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ledger.application.custody import CustodyLedger, referenced
from ledger.application.faults import storage_errors
from ledger.application.log import NO_TREE, TransparencyLog
from ledger.tlog import merkle
from ledger.tlog.bundle import Bundle, BundledEvent, format_bundle
from ledger.core.errors import InputError
from ledger.verify.log_keys import open_log_checkpoint
from ledger.domain.aggregates import LEDGER_STREAM, lot_stream
from ledger.domain.stored import prepare

NEEDS_CHECKPOINT = ("no stored checkpoint covers the log's head ({size} events); sign one "
                    "with 'custody checkpoint --key LOG.key', then export again")


def lots_between(app: CustodyLedger, start: str | None, end: str | None) -> list[str]:
    """The ids of the lots with a step that occurred from ``start`` to ``end`` (canonical
    timestamps; either may be open)."""
    found = set()
    with storage_errors(app.backend, f"cannot read the lots from {app.backend.label}"):
        lots = app.recorder.select_kind("lot:")
    for row in lots:
        body = prepare(row).body
        if body is None:
            continue
        moment = body["occurred_at"]
        if (start is None or moment >= start) and (end is None or moment <= end):
            found.add(body["stream"].split(":", 1)[1])
    return sorted(found)


def export_bundle(app: CustodyLedger, lot_ids: Sequence[str]) -> tuple[bytes, dict[str, Any]]:
    """The bundle of ``lot_ids`` and a summary (events, lots, checkpoint size, bytes).

    Refused (InputError) for a lot with no stored step, a ledger with no log key, and when
    no stored checkpoint covers the log's head."""
    if not lot_ids:
        raise InputError("no lot matches; nothing to export")
    for lot_id in lot_ids:
        if not app.has_stream(lot_stream(lot_id)):
            raise InputError(f"no lot {lot_id} is stored in {app.backend.label}; check the lot "
                             "id ('custody status' lists the lots)")
    tlog = TransparencyLog(app)
    state = tlog.log_state()
    if not state.log_keys:
        raise InputError("this ledger names no log key, so nothing can prove a bundle's "
                         "events; name one with 'custody log enable --log-key LOG.pub', then "
                         "run 'custody checkpoint --key LOG.key'")
    if not tlog.has_tree():
        raise InputError(NO_TREE.format(label=app.backend.label))
    size = tlog.size()
    note = tlog.checkpoint_covering(size, state)
    if note is None:
        raise InputError(NEEDS_CHECKPOINT.format(size=size))
    tree_size = open_log_checkpoint(note, state).size
    rows = _rows(app, [lot_stream(lot_id) for lot_id in lot_ids])
    events = []
    for row in rows:
        index = app.recorder.position_leaf(row[0])
        if index is None or index >= tree_size:
            continue  # appended after the checkpoint was read
        state_bytes = row[4] if isinstance(row[4], (bytes, bytearray, memoryview)) else b""
        events.append(BundledEvent(int(index), bytes(state_bytes),
                                   tuple(merkle.prove_record(tree_size, int(index), tlog.read))))
    data = format_bundle(Bundle(tuple(sorted(set(lot_ids))), tuple(events), note))
    return data, {"lots": len(set(lot_ids)), "events": len(events), "tree_size": tree_size,
                  "bytes": len(data)}


def _rows(app: CustodyLedger, streams: Iterable[str]) -> list[tuple[Any, ...]]:
    """Every stored row of the roster, the ledger stream, ``streams`` and whatever judging
    them reads (transitively), in log order."""
    rows: dict[int, tuple[Any, ...]] = {}
    with storage_errors(app.backend, f"cannot read the roster from {app.backend.label}"):
        roster = app.recorder.select_kind("person:")
    for row in roster:
        rows[row[0]] = row
    loaded = {str(row[1]) for row in rows.values()}
    wanted = {LEDGER_STREAM, *streams}
    while wanted - loaded:
        batch = sorted(wanted - loaded)
        loaded |= set(batch)
        with storage_errors(app.backend, f"cannot read the ledger from {app.backend.label}"):
            found = app.recorder.select_streams(batch)
        for row in found:
            rows[row[0]] = row
            prepared = prepare(row)  # a damaged row is still exported: the verifier reports it
            wanted |= referenced(prepared.body, prepared.signatures)
    return [rows[position] for position in sorted(rows)]
