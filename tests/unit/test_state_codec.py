"""The ledger-state fold as canonical records, and the saved-state file of ``verify --state``:
a state saved at any position and folded on gives what folding everything gives; a damaged,
tampered or foreign file is refused, naming why, and nothing is written."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.core import canonical
from ledger.core.errors import InputError
from ledger.core.state import Event, LedgerState
from ledger.core.state_codec import (
    FORMAT,
    StateDamaged,
    StateReader,
    decode_state,
    encode_state,
    state_records,
)
from ledger.domain.stored import prepare, raw
from ledger.verify import Verifier
from ledger.verify.saved_state import FILE, MAGIC, SavedState, save
from ledger.verify.spill import SpillMap
from tests.conftest import LEDGER_ID, TEAM


def events_of(world) -> list[Event]:
    rows = world.app.recorder.select_notifications(start=None, limit=10_000)
    events = []
    for note in rows:
        row = prepare(raw(note))
        assert row.problem is None
        events.append(Event(note.id, row.body, row.signatures, row.event_hash.hex(),
                            row.recorded_at, row.digest))
    return events


def fold(events, state: LedgerState | None = None) -> tuple[LedgerState, list[str]]:
    state = state if state is not None else LedgerState()
    findings = []
    for event in events:
        findings += [f"{event.position}:{f.code}" for f in state.apply(event).findings]
    return state, findings


@pytest.fixture
def busy(day):
    """The exam day, with sites, a room within one, duty shifts, a lot stored in the room, a
    duty gap that opens and closes and one still open, a short-staffed step and two steps at
    sites apart: a state with every section filled, and findings to carry over."""
    day.site("CEI")
    day.site("NO2")
    day.room("SR-3", within="CEI")
    day.step("room:SR-3", "duty.started", {}, TEAM[:4])
    day.step("lot:LOT-1", "lot.stored", {"from": "STF-03", "room": "SR-3",
                                          "seals_checked": ["SEAL-1", "SEAL-2"],
                                          "count_checked": 30}, TEAM)
    day.step("room:SR-3", "duty.ended", {}, TEAM[:2], at=day.clock.now + timedelta(hours=1))
    day.step("room:SR-3", "duty.started", {}, TEAM[:2], at=day.clock.now + timedelta(hours=1))
    day.step("room:SR-3", "duty.ended", {}, TEAM[:1], at=day.clock.now + timedelta(hours=1))
    day.app.record_handover("LOT-2", "STF-03", "STF-04", "Gate", ["SEAL-1", "SEAL-2"], 30,
                            day.clock.now, day.sign(*TEAM), place="site:NO2")
    return day


def test_a_state_saved_at_every_position_folds_on_to_the_full_fold(busy):
    events = events_of(busy)
    whole, all_findings = fold(events)
    assert whole.rooms and whole.sites and whole.lots and whole.entered is not None
    assert whole.gaps and any(c.gap for c in whole.coverage.values())
    assert "PRESENCE_CONFLICT" in {f.split(":")[1] for f in all_findings}
    for cut in range(1, len(events)):
        first, before = fold(events[:cut])
        records = encode_state(first)
        again = decode_state(records)
        assert encode_state(again) == records  # one encoding, both ways
        resumed, after = fold(events[cut:], again)
        assert before + after == all_findings, cut
        assert encode_state(resumed) == encode_state(whole), cut
        assert resumed.duty_gaps() == whole.duty_gaps()


def test_a_state_read_into_spill_maps_is_the_same_state(busy):
    whole, _ = fold(events_of(busy))
    records = list(state_records(whole, per_record=2))  # many records per section
    maps = {name: SpillMap(1) for name in ("lots", "heads", "entered")}
    again = decode_state(records, **maps)
    assert isinstance(again.lots, SpillMap) and len(again.lots) == len(whole.lots)
    assert list(state_records(again, per_record=2)) == records


def test_entries_loaded_into_a_spill_map_read_back_as_the_fold_left_them(busy):
    whole, _ = fold(events_of(busy))
    records = encode_state(whole)
    again = decode_state(records, lots=SpillMap(8), heads=SpillMap(8), entered=SpillMap(8))
    assert {k: again.lots[k] for k in list(whole.lots)} == dict(whole.lots)
    assert {k: again.heads[k] for k in list(whole.heads)} == dict(whole.heads)
    assert dict(again.entered.items()) == dict(whole.entered)


def test_a_damaged_entry_in_a_spill_map_is_refused_when_read(busy):
    """A per-stream entry is checked when first read: a bad field then refuses the state."""
    import msgpack

    records = encode_state(fold(events_of(busy))[0])
    at = _lots_record(records)
    record = canonical.decode(records[at])
    stream = record["entries"][0][0]
    record["entries"][0][1][4] = "thirty"  # the count, as text
    damaged = msgpack.packb(record, use_bin_type=True)
    state = decode_state([*records[:at], damaged, *records[at + 1:]], lots=SpillMap(8))
    with pytest.raises(StateDamaged, match="holds a damaged lot entry .* run without --state"):
        state.lots[stream]


def test_every_record_is_canonical_msgpack(busy):
    for record in encode_state(fold(events_of(busy))[0]):
        assert canonical.encode(canonical.decode(record)) == record


def _reencode(record: bytes, change) -> bytes:
    value = canonical.decode(record)
    change(value)
    return canonical.encode(value)


@pytest.mark.parametrize("damage, says", [
    (lambda recs: recs[1:], "the first record is not the state's scalars"),
    (lambda recs: [recs[0], recs[0], *recs[1:]], "not a map of its entries and section"),
    (lambda recs: [recs[0], recs[-1], *recs[1:-1]], "comes after"),
    # the roster, a per-person section, is in key order: a repeated record breaks it
    (lambda recs: [*recs[:2], recs[1], *recs[2:]], "names 'AUTH-01' out of order or twice"),
    (lambda recs: [recs[0] + b"\xc0"], "not canonical"),
    (lambda recs: [_reencode(recs[0], lambda v: v.update(format=1))], f"format 1 is not {FORMAT}"),
    (lambda recs: [recs[0], _reencode(recs[1], lambda v: v.update(section="secrets"))],
     "unknown section 'secrets'"),
    (lambda recs: [recs[0], _reencode(recs[1], lambda v: v["entries"][0].pop())],
     "not a list of 7 fields"),
    (lambda recs: [recs[0], _reencode(recs[1], lambda v: v["entries"][0].__setitem__(4, b"x"))],
     "public key is 32 bytes"),
])
def test_a_damaged_record_sequence_is_refused_by_name(busy, damage, says):
    records = encode_state(fold(events_of(busy))[0])
    assert canonical.decode(records[1])["section"] == "roster"
    with pytest.raises(StateDamaged, match=says):
        decode_state(damage(records))


def test_an_event_hash_spelled_in_hex_is_not_a_second_encoding(busy):
    records = encode_state(fold(events_of(busy))[0])
    heads = next(i for i, r in enumerate(records) if canonical.decode(r)["section"] == "heads")
    spelled = _reencode(records[heads],
                        lambda v: v["entries"][0].__setitem__(2, v["entries"][0][2].hex()))
    with pytest.raises(StateDamaged, match="an event hash is str"):
        decode_state([*records[:heads], spelled, *records[heads + 1:]])


def test_a_stream_given_twice_or_out_of_order_is_refused(busy):
    records = list(state_records(fold(events_of(busy))[0], per_record=1))
    heads = [i for i, r in enumerate(records) if canonical.decode(r)["section"] == "heads"]
    first, second = heads[0], heads[1]
    twice = [*records[:second], records[first], *records[second:]]
    swapped = [*records[:first], records[second], records[first], *records[second + 1:]]
    for damaged in (twice, swapped):
        with pytest.raises(StateDamaged, match="out of order or twice"):
            decode_state(damaged)


def _lots_record(records: list[bytes]) -> int:
    return next(i for i, r in enumerate(records) if canonical.decode(r)["section"] == "lots")


@pytest.mark.parametrize("field, value, says", [
    (9, "Secure room e\u0301", "not in Unicode NFC form"),  # a decomposed é
    (4, 1.5, "a float where it holds int"),
    (14, [b"\x00" * 31], "an event hash is bytes"),
])
def test_a_lot_with_a_bad_field_is_refused(busy, field, value, says):
    import msgpack

    records = encode_state(fold(events_of(busy))[0])
    at = _lots_record(records)
    record = canonical.decode(records[at])
    record["entries"][0][1][field] = value
    damaged = msgpack.packb(record, use_bin_type=True)  # as a hand-made file would hold it
    with pytest.raises(StateDamaged, match=says):
        decode_state([*records[:at], damaged, *records[at + 1:]])


def test_a_record_in_a_longer_form_than_needed_is_refused(busy):
    records = encode_state(fold(events_of(busy))[0])
    at = _lots_record(records)
    # the map header of the record (fixmap, 0x82) spelled as a map16: same value, more bytes
    longer = b"\xde\x00\x02" + records[at][1:]
    with pytest.raises(StateDamaged, match="not the canonical encoding"):
        decode_state([*records[:at], longer, *records[at + 1:]])


def test_the_reader_needs_its_scalars():
    with pytest.raises(StateDamaged, match="no scalars record"):
        StateReader().finish()


# -- the state file ---------------------------------------------------------------------------


@pytest.fixture
def saved(day, tmp_path) -> Path:
    verifier = Verifier(day.app.recorder)
    assert verifier.run().intact
    directory = tmp_path / "audit"
    save(directory, verifier.reached(), verifier.state)
    verifier.close()
    return directory


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_the_state_file_is_private_and_opens_for_its_ledger(saved, day):
    assert stat.S_IMODE(saved.stat().st_mode) == 0o700
    assert stat.S_IMODE((saved / FILE).stat().st_mode) == 0o600
    assert list(saved.iterdir()) == [saved / FILE]  # no temporary file left
    opened = SavedState(saved, LEDGER_ID)
    assert opened.header.position == day.app.last_position()
    assert opened.header.tree_size == day.app.recorder.tree_size()
    state = opened.load()
    assert state.ledger_id == LEDGER_ID and state.lot("LOT-2").holder == "STF-03"


def refused(directory: Path, ledger_id: str = LEDGER_ID) -> str:
    before = listing(directory)
    with pytest.raises(StateDamaged) as caught:
        SavedState(directory, ledger_id).load()
    assert listing(directory) == before  # nothing written
    message = str(caught.value)
    assert "\n" not in message and f"delete {directory}" in message
    assert "run without --state" in message
    return message


def test_a_flipped_byte_anywhere_is_refused(saved):
    data = (saved / FILE).read_bytes()
    for offset in (len(MAGIC) + 10, len(data) // 2, len(data) - 80, len(data) - 3):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        (saved / FILE).write_bytes(bytes(changed))
        assert "refused" in refused(saved)


def test_a_recomputed_digest_over_another_ledger_id_is_foreign(saved):
    assert "not of this ledger 'other-ledger'" in refused(saved, "other-ledger")


def test_a_truncated_file_is_refused(saved):
    data = (saved / FILE).read_bytes()
    for keep in (0, 5, len(MAGIC) + 3, len(data) - 100, len(data) - 1):
        (saved / FILE).write_bytes(data[:keep])
        assert "refused" in refused(saved)


def test_bytes_appended_after_the_integrity_line_are_refused(saved):
    (saved / FILE).write_bytes((saved / FILE).read_bytes() + b"sha256 " + b"0" * 64 + b"\n")
    assert "integrity line does not match" in refused(saved)


def test_a_state_path_that_is_a_file_is_a_usage_error(day, tmp_path):
    verifier = Verifier(day.app.recorder)
    verifier.run()
    (tmp_path / "taken").write_text("x")
    with pytest.raises(InputError, match="is not a directory"):
        save(tmp_path / "taken", verifier.reached(), verifier.state)
    verifier.close()


def test_a_failed_save_keeps_the_old_state(saved, day, monkeypatch):
    before = listing(saved)
    verifier = Verifier(day.app.recorder)
    verifier.run()

    def broken(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(Exception, match="cannot save the audit state"):
        save(saved, verifier.reached(), verifier.state)
    verifier.close()
    assert listing(saved) == before


def test_the_codec_saves_every_attribute_of_the_fold():
    # A LedgerState attribute the codec does not save would be silently empty after a resumed
    # audit (the genesis's witnesses were, before this test).
    from ledger.core import state_codec
    from ledger.core.state import LedgerState

    # (Attributes named with a leading underscore are caches rebuilt from the saved ones, and
    # so are those the codec names as derived from them.)
    assert state_codec.DERIVED == {"presence"}
    assert {name for name in vars(LedgerState()) if not name.startswith("_")} == (
        state_codec.SAVED | state_codec.DERIVED)
    assert not state_codec.SAVED & state_codec.DERIVED
