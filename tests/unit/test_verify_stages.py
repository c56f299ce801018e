"""The verifier's stateless stage (run in the workers) and how the judge uses its results."""

from __future__ import annotations

import hashlib
import os

import pytest

from ledger.application.custody import open_ledger, referenced
from ledger.core import canonical, keys
from ledger.core.keys import SigningKey
from ledger.core.rules import judge
from ledger.verify import Verifier
from ledger.verify.rows import Scope, prepare, prepare_chunk, raw
from tests.conftest import PEOPLE, World
from tests.tamper.attacker import Attacker


def stored(world: World):
    notes = world.app.recorder.select_notifications(start=1, limit=1000)
    return notes, [raw(note) for note in notes]


def test_a_chunk_looks_ahead_to_the_keys_it_enrols_so_an_empty_keyring_checks_everything(day):
    notes, raws = stored(day)
    rows = prepare_chunk(raws, {})
    signatures = sum(len(row.signatures) for row in rows)
    results = [ok for row in rows for ok in row.verified.values()]
    assert len(notes) == 17 and signatures == len(results) == 1 + len(PEOPLE) + 6 * 6
    assert all(results)


def test_a_stale_key_costs_a_check_in_the_judge_never_a_wrong_verdict(day):
    notes, raws = stored(day)
    stale = SigningKey.from_seed(hashlib.sha256(b"someone else").digest()).public_key.raw
    roster = {p: day.app.member(p) for p in PEOPLE}
    keyring = {p: m.public_key.raw for p, m in roster.items()} | {"POL-01": stale}
    step = prepare_chunk(raws[-1:], keyring)[0]  # LOT-2's second handover, POL-01 among signers
    wrong = (stale, step.digest, step.signatures["POL-01"])
    assert step.verified[wrong] is False
    ctx = day.app.state(referenced(step.body, step.signatures))[0].context(None)
    present, findings = judge(step.body, step.signatures, ctx, step.verified, step.digest)
    assert "POL-01" in present
    assert not [f for f in findings if f.code == "SIGNATURE_INVALID"]


def test_before_since_only_roster_and_authority_signatures_are_checked(day):
    notes, raws = stored(day)
    rows = prepare_chunk(raws, {}, Scope(since=len(notes)))
    checked = {row.body["type"] for row in rows if row.verified}
    assert checked == {"ledger.genesis", "person.enrolled", "lot.handed_over"}
    assert [bool(row.verified) for row in rows[-6:]] == [False] * 5 + [True]


def test_an_outside_lot_has_no_signatures_checked(day):
    _, raws = stored(day)
    rows = prepare_chunk(raws, {}, Scope(only_streams=frozenset({"lot:LOT-1"})))
    assert {row.body["stream"] for row in rows if row.body["stream"].startswith("lot:")
            and row.verified} == {"lot:LOT-1"}


def test_since_still_distrusts_an_enrolment_whose_signature_is_broken(day):
    """Lot steps before --since are taken as checked; the roster before it never is."""
    day.app.close()
    attacker = Attacker(day.db)
    position = next(r.position for r in attacker.rows() if r.stream == "person:STF-03")
    attacker.rewrite(position, lambda record: record["signatures"].update(
        {"AUTH-01": bytes(64)}))
    reopened = open_ledger(str(day.db))
    try:
        report = Verifier(reopened.recorder, since=14).run()
    finally:
        reopened.close()
    unknown = {(f.code, f.position) for f in report.findings if f.code == "SIGNER_UNKNOWN"}
    assert unknown == {("SIGNER_UNKNOWN", 14), ("SIGNER_UNKNOWN", 15), ("SIGNER_UNKNOWN", 16),
                       ("SIGNER_UNKNOWN", 17)}
    assert report.events == 4


def test_keys_verify_batch_is_false_for_anything_malformed():
    key = SigningKey.from_seed(bytes(32))
    digest = hashlib.sha256(b"x").digest()
    good = key.sign(digest)
    raw_key = key.public_key.raw
    assert keys.verify_batch([(raw_key, digest, good), (raw_key, digest, good[:63]),
                              (raw_key[:31], digest, good), (raw_key, digest, bytes(64))]) \
        == [True, False, False, False]


@pytest.mark.parametrize("first, stream", [
    ("person:STF-01", "person:STF-01\u200b"),
    ("room:SR-3", "room:SR-3\u202e"),
    ("lot:LOT-1", "lot:LOT-2"),
])
def test_a_stream_not_named_by_its_first_events_id_is_an_envelope_mismatch(day, first, stream):
    """The row stage ties the stream to the id in the body, whatever the columns say."""
    day.room()
    notes, raws = stored(day)
    (position, _, version, topic, state), = [r for r in raws if (r[1], r[2]) == (first, 1)]
    record = canonical.decode(state)
    record["body"]["stream"] = stream
    row = prepare((position, stream, version, topic, canonical.encode(record)))
    assert row.problem is not None and row.problem.code == "ENVELOPE_MISMATCH"
    assert f"stream {stream!r} is not {first!r}" in row.problem.message
    assert prepare(raws[position - 1]).problem is None  # the stored row itself is fine


# -- the packed results a worker sends back (ledger/verify/packed.py) -----------------------


def _unpacked(raws, keyring, scope=Scope()):
    from ledger.verify.packed import prepare_packed, unpack

    return unpack(raws, prepare_packed(raws, keyring, scope), keyring)


def test_packed_results_rebuild_exactly_the_rows_the_worker_prepared(day):
    from ledger.verify.packed import prepare_packed

    notes, raws = stored(day)
    roster = {p: day.app.member(p).public_key.raw for p in PEOPLE}
    stale = SigningKey.from_seed(hashlib.sha256(b"someone else").digest()).public_key.raw
    lot = Scope(only_streams=frozenset({"lot:LOT-1"}))
    for chunk in (raws, raws[-6:], raws[-1:]):
        for keyring in (roster, {}, roster | {"POL-01": stale}, {"STF-01": roster["STF-01"]}):
            for scope in (Scope(), lot, Scope(since=len(notes))):
                assert _unpacked(chunk, keyring, scope) == prepare_chunk(chunk, keyring, scope)
    # The lot steps travel packed (the enrolments before them travel whole, as a chunk that
    # names keys does), with one verdict byte a signer.
    accepted, hashes, digests, verdicts, whole, judged = prepare_packed(raws[-6:], roster)
    assert (list(accepted), len(hashes), len(digests), len(verdicts), whole, judged) == (
        [1] * 6, 6 * 32, 6 * 32, 6 * 6, [], None)
    assert isinstance(prepare_packed(raws, roster), list)


def test_workers_read_each_keyring_from_its_file_once_and_the_files_go_with_the_run(day):
    from ledger.verify import packed

    _, raws = stored(day)
    roster = {p: day.app.member(p).public_key.raw for p in PEOPLE}
    files = packed.HandedFiles(keep=2)
    first = files.file_for(roster, None)
    assert files.file_for(roster, None) == first  # the same keyring is written once
    assert os.stat(first).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(first)).st_mode & 0o777 == 0o700
    assert packed.prepare_packed_with(raws, first) == packed.prepare_packed(raws, roster)
    # A newer keyring gets a file of its own; past `keep` of them, the oldest is removed.
    fewer = {"STF-01": roster["STF-01"]}
    second = files.file_for(fewer, None)
    third = files.file_for(dict(roster), None)
    assert len({first, second, third}) == 3 and not os.path.exists(first)
    assert packed.prepare_packed_with(raws, second) == packed.prepare_packed(raws, fewer)
    files.close()
    assert not os.path.exists(os.path.dirname(second))


def test_a_damaged_row_travels_whole_and_is_judged_as_before(day):
    from ledger.verify.packed import prepare_packed

    _, raws = stored(day)
    roster = {p: day.app.member(p).public_key.raw for p in PEOPLE}
    broken = (*raws[-1][:4], raws[-1][4][:-1])
    chunk = [*raws[-3:-1], broken]
    accepted, _, _, _, whole, _ = prepare_packed(chunk, roster)
    assert list(accepted) == [1, 1, 0] and whole[0].problem.code == "NON_CANONICAL"
    assert _unpacked(chunk, roster) == prepare_chunk(chunk, roster)
