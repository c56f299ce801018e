"""The compiled row stage makes of every stored row exactly what the reference row stage
makes of it: on whole ledgers, and on rows damaged in every way the canonical encoding and the
schemas refuse (msgspec on its own accepts several of them)."""

from __future__ import annotations

import random
import sys
import unicodedata
from pathlib import Path

import msgpack
import pytest

from ledger.core import canonical
from ledger.domain import compiled_rows, stored
from ledger.domain.stored import raw
from tests.unit.test_exam_day import exam_day

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import season  # noqa: E402


@pytest.fixture(scope="module")
def season_rows(tmp_path_factory) -> list[tuple]:
    db = tmp_path_factory.mktemp("season") / "season.db"
    season.generate(db, 60, rates=dict.fromkeys(season.RATES, 0.5))
    from ledger.application.custody import open_ledger

    app = open_ledger(str(db))
    try:
        return [raw(n) for n in app.recorder.select_notifications(start=1, limit=100_000)]
    finally:
        app.close()


def compiled_takes(row: tuple, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the compiled stage accepted the row itself (did not hand it to the reference)."""
    handed: list[tuple] = []
    with monkeypatch.context() as patch:
        patch.setattr(compiled_rows, "reference", lambda r: handed.append(r) or stored.prepare(r))
        compiled_rows.prepare(row)
    return not handed


def test_every_row_of_a_season_is_prepared_as_the_reference_prepares_it(
        season_rows: list[tuple], monkeypatch: pytest.MonkeyPatch) -> None:
    for row in season_rows:
        assert compiled_rows.prepare(row) == stored.prepare(row), row[0]
    steps = [r for r in season_rows if str(r[1]).split(":")[0] in ("lot", "room", "zero",
                                                                   "incident")]
    taken = [r for r in steps if compiled_takes(r, monkeypatch)]
    # Every step row but a room's registration (an authority event) is decoded in C.
    assert len(taken) == len(steps) - sum(r[2] == 1 and str(r[1]).startswith("room:")
                                          for r in steps) > 300


def test_every_row_of_an_exam_day_is_prepared_as_the_reference_prepares_it(world) -> None:
    exam_day(world)
    rows = [raw(n) for n in world.app.recorder.select_notifications(start=1, limit=10_000)]
    assert rows
    for row in rows:
        assert compiled_rows.prepare(row) == stored.prepare(row)


def _record(row: tuple) -> dict:
    return msgpack.unpackb(row[4], raw=False, ext_hook=lambda code, data: msgpack.ExtType(code, data))


def _pack(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _rebuilt(row: tuple, record: dict) -> tuple:
    return (*row[:4], _pack(record))


def _body_mutations(body: dict) -> list[tuple[str, object]]:
    """(what, a changed body: dict, or bytes of the body as stored)"""
    out: list[tuple[str, object]] = []
    keys = list(body)
    unsorted = dict(reversed(list(body.items())))
    out.append(("keys out of order", unsorted))
    # The same map with one key given twice: msgpack maps can say so; a dict cannot.
    header = bytes([0x80 | (len(keys) + 1)]) if len(keys) + 1 < 16 else (
        b"\xde" + (len(keys) + 1).to_bytes(2, "big"))
    items = b"".join(_pack(k) + _pack(body[k]) for k in keys)
    out.append(("a key twice", header + _pack(keys[0]) + _pack(body[keys[0]]) + items))
    # seq as a uint16 where a fixint is the shortest form.
    wide = b"".join(_pack(k) + (b"\xcd" + body[k].to_bytes(2, "big") if k == "seq"
                                else _pack(body[k])) for k in keys)
    out.append(("a non-minimal integer", _pack(body)[:len(_pack(body)) - len(items)] + wide))
    out.append(("an unknown field", {**body, "zzz": 1}))
    out.append(("a float count", {**body, "seq": float(body["seq"])}))
    out.append(("a bool for schema", {**body, "schema": True}))
    out.append(("location in NFD", {**body, "location": unicodedata.normalize(
        "NFD", "Salle d'examen é")}))
    out.append(("location with a control character", {**body, "location": "Room\u200b 1"}))
    out.append(("no location", {k: v for k, v in body.items() if k != "location"}))
    out.append(("another ledger's stream kind", {**body, "stream": "room:" + body["stream"]}))
    out.append(("seq 1 on a later step", {**body, "seq": 1}))
    if "seals_checked" in body:
        out.append(("a seal twice", {**body, "seals_checked": body["seals_checked"] * 2}))
    if "evidence" not in body:
        out.append(("evidence twice", {**body, "evidence": ["ab" * 32, "ab" * 32]}))
    out.append(("an attendee with another field", {**body, "attendees": [
        {**body["attendees"][0], "x": 1}, *body["attendees"][1:]]}))
    return out


def test_damaged_step_rows_are_judged_by_the_reference(season_rows: list[tuple],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20)
    steps = [r for r in season_rows if str(r[1]).startswith("lot:") and r[2] > 1]
    damaged = 0
    for row in rng.sample(steps, 40):
        record = _record(row)
        variants: list[tuple[str, tuple]] = []
        for what, body in _body_mutations(record["body"]):
            if isinstance(body, bytes):  # the body's bytes, spliced into the record as stored
                prefix = _pack({"body": None})[:-1]
                whole = _pack(record)
                rest = whole[len(prefix) + len(_pack(record["body"])):]
                variants.append((what, (*row[:4], prefix + body + rest)))
            else:
                variants.append((what, _rebuilt(row, {**record, "body": body})))
        signatures = record["signatures"]
        variants.append(("signers out of order", _rebuilt(row, {
            **record, "signatures": dict(reversed(list(signatures.items())))})))
        variants.append(("a signer id in NFD", _rebuilt(row, {
            **record, "signatures": {unicodedata.normalize("NFD", "é"): b"x" * 64,
                                     **signatures}})))
        variants.append(("timestamp of another extension", _rebuilt(row, {
            **record, "timestamp": msgpack.ExtType(2, record["timestamp"].data)})))
        variants.append(("timestamp text in another form", _rebuilt(row, {
            **record, "timestamp": msgpack.ExtType(1, b"2026-06-02T00:00:30Z")})))
        variants.append(("an unknown record field", _rebuilt(row, {**record, "extra": 1})))
        variants.append(("stored under another version", (row[0], row[1], row[2] + 1, *row[3:])))
        variants.append(("a flipped byte", (*row[:4], _flip(row[4], rng))))
        variants.append(("cut short", (*row[:4], row[4][:-3])))
        for what, variant in variants:
            assert compiled_rows.prepare(variant) == stored.prepare(variant), what
            if stored.prepare(variant).problem is not None:
                damaged += 1
                assert not compiled_takes(variant, monkeypatch), what
    assert damaged > 40 * 15


def _flip(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]


def test_decode_step_gives_back_what_prepare_accepted(season_rows: list[tuple]) -> None:
    for row in season_rows[-200:]:
        prepared = compiled_rows.prepare(row)
        body, signatures, recorded_at = compiled_rows.decode_step(row[4])
        assert (body, signatures, recorded_at) == (
            prepared.body, prepared.signatures, prepared.recorded_at)
        assert canonical.decode(row[4])["body"] == body
