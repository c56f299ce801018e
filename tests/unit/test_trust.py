"""A step's trust-dependent judgement worked out ahead of the fold (ledger/core/trust.py), packed
by a worker (ledger/verify/packed.py) and used by the fold only while its trust state stands."""

from __future__ import annotations

import pytest

import ledger.core.state as state_module
from ledger.core import keys
from ledger.core.rules import ALL_VALID, judge
from ledger.core.state import Event, LedgerState
from ledger.core.trust import Prejudged, prejudge
from ledger.verify import Verifier
from ledger.verify.packed import prepare_packed, unpack
from ledger.verify.rows import Scope, prepare_chunk, raw
from tests.conftest import AUTHORITY, PEOPLE, TEAM, World


def rows_of(world: World):
    notes = world.app.recorder.select_notifications(start=1, limit=1000)
    raws = [raw(note) for note in notes]
    return raws, prepare_chunk(raws, {})  # every signature checked (keys looked ahead to)


def event_of(row_raw, row) -> Event:
    return Event(row_raw[0], row.body, row.signatures, row.event_hash.hex(), row.recorded_at,
                 row.digest)


def fold(raws, rows, *, ahead: bool):
    """Every outcome of a fold of ``rows``: each step judged in the fold, or (``ahead``) its
    trust-dependent part worked out first against the fold's trust state as it stands."""
    state, outcomes = LedgerState(), []
    for row_raw, row in zip(raws, rows):
        judged = (prejudge(row.body, row.signatures, row.digest, row.recorded_at,
                           state.trust(), row.verified) if ahead else None)
        outcome = state.apply(event_of(row_raw, row), row.verified, judged)
        outcomes.append((outcome.findings, dict(outcome.present), outcome.lot))
    return state, outcomes


@pytest.fixture
def season(world: World) -> World:
    """Lots handed over around trust changes (a room registered, a key revoked), one step
    short of the policy and acknowledged."""
    for lot_id in ("LOT-1", "LOT-2", "LOT-3"):
        world.register(lot_id)
        world.handover(lot_id, "STF-01", "STF-02")
    world.room("SR-3")
    world.handover("LOT-1", "STF-02", "STF-03")
    world.app.revoke_key("STF-06", "key file lost", world.signers[AUTHORITY], world.clock.now)
    world.handover("LOT-2", "STF-02", "STF-03", team=TEAM[1:],
                   acknowledge="one officer was called away")
    world.handover("LOT-3", "STF-02", "STF-03")
    return world


def test_judged_ahead_every_step_folds_to_what_judging_it_in_the_fold_gives(season, monkeypatch):
    raws, rows = rows_of(season)
    _, here = fold(raws, rows, ahead=False)
    judged = []
    monkeypatch.setattr(state_module, "judge", lambda body, *a: judged.append(body["type"])
                        or judge(body, *a))
    _, ahead = fold(raws, rows, ahead=True)
    assert ahead == here
    # The fold judged only the genesis and the authority's events itself.
    assert judged and set(judged) == {"ledger.genesis", "person.enrolled", "room.registered",
                                      "person.key_revoked"}
    assert [f.code for findings, *_ in here for f in findings] == ["ACKNOWLEDGED_VIOLATION"]


def test_a_step_judged_against_a_trust_state_since_replaced_is_judged_again(season):
    raws, rows = rows_of(season)
    _, here = fold(raws, rows, ahead=False)
    state, _ = fold(raws[:-1], rows[:-1], ahead=False)
    step, step_raw = rows[-1], raws[-1]
    # Worked out against an older trust state: nobody counted, nothing found. It is not used.
    stale = Prejudged(state.trust_version - 1, (), [])
    outcome = state.apply(event_of(step_raw, step), step.verified, stale)
    assert (outcome.findings, dict(outcome.present), outcome.lot) == here[-1]
    assert dict(outcome.present) == {p: PEOPLE[p] for p in sorted(TEAM)} and not outcome.short


def test_packed_judgements_rebuild_exactly_what_the_worker_judged(season):
    raws, rows = rows_of(season)
    state, _ = fold(raws, rows, ahead=False)
    keyring = {p: m.public_key.raw for p, m in state.roster.items()}
    steps = [i for i, row in enumerate(rows) if row.body["stream"].startswith("lot:")]
    chunk = [raws[i] for i in steps]
    full = state.trust()
    # Without STF-01 in the roster, steps STF-01 signed count everyone else: a signer found
    # unknown travels as a byte a signer, the finding beside it.
    short = full._replace(members={p: m for p, m in full.members.items() if p != "STF-01"})
    for trust in (full, short):
        for scope in (Scope(), Scope(only_streams=frozenset({"lot:LOT-2"}))):
            worked = [prejudge(r.body, r.signatures, r.digest, r.recorded_at, trust,
                               r.verified if scope.wanted(r.body["stream"]) else ALL_VALID)
                      for r in prepare_chunk(chunk, keyring, scope)]
            packed = prepare_packed(chunk, keyring, scope, trust)
            assert [r.prejudged for r in unpack(chunk, packed, keyring)] == worked
    # Without their signature results, the judged steps are the same rows otherwise.
    packed = prepare_packed(chunk, keyring, Scope(), full)
    bare = unpack(chunk, packed, keyring, signature_results=False)
    assert [r._replace(verified={}) for r in unpack(chunk, packed, keyring)] == bare
    assert all(r.prejudged is not None and r.verified == {} for r in bare)
    assert all(len(r.verified) == len(r.signatures) for r in unpack(chunk, packed, keyring))
    unknown = [p for p in worked if p.findings]
    assert unknown and all([f.code for f in p.findings] == ["SIGNER_UNKNOWN", "PRESENCE_SHORT"]
                           for p in unknown)
    assert all("STF-01" not in p.signers for p in unknown)
    # A chunk that names keys travels whole, each row with its judgement.
    whole = prepare_packed(raws, keyring, Scope(), full)
    assert isinstance(whole, list) and [r.prejudged for r in whole] == [
        prejudge(r.body, r.signatures, r.digest, r.recorded_at, full, r.verified)
        for r in prepare_chunk(raws, keyring)]


def test_parallel_verify_uses_judgements_made_ahead_and_reports_what_one_process_does(
        season, monkeypatch):
    for n in range(4, 10):  # more steps, after the last trust change
        season.register(f"LOT-{n}")
        season.handover(f"LOT-{n}", "STF-01", "STF-02")
    used = []
    apply = LedgerState.apply

    def counted(self, event, verified=None, prejudged=None):
        used.append(prejudged is not None and prejudged.version == self.trust_version)
        return apply(self, event, verified, prejudged)

    checked_here = []
    verify = keys.verify

    def verify_here(*args):
        checked_here.append(args)
        return verify(*args)

    serial = Verifier(season.app.recorder).run()
    monkeypatch.setattr(LedgerState, "apply", counted)
    monkeypatch.setattr(keys, "verify", verify_here)
    parallel = Verifier(season.app.recorder, workers=2, page_size=3).run()
    assert parallel.findings == serial.findings
    assert (parallel.events, parallel.signatures) == (serial.events, serial.signatures)
    assert any(used) and not all(used)  # some taken, some judged again after trust changes
    # A step judged again had the workers' signature results: none was checked here.
    assert checked_here == []
