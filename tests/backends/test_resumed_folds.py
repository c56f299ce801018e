"""A fold resumed is the fold of the whole log, on SQLite and PostgreSQL: the view's, caught
up to any cut of the log and resumed from what it saved there, and the resumed audit's
(``verify --state``), each compared with a fold of every event through the one codec
(``state_codec``), which names every attribute of ``LedgerState``.

The ledger's genesis names a witness and the log has a key, so the parts of the state no
step of a lot touches (the log keys, the witnesses, the position of the last recorded_at)
are compared too: the view once saved its fold with a list of its own that left them out.
And a saved fold edited into something else is reported, never loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Iterator

import json
import pickle

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from cli.main import main
from ledger.core.errors import ConcurrentChange, InputError, KeyringError, PolicyViolation
from ledger.core.state import LedgerState
from ledger.core.state_codec import SAVED, encode_state
from ledger.projections import access
from ledger.projections.projection import CustodyProjection, catch_up
from ledger.verify import Verifier
from ledger.verify.saved_state import SavedState, exists, save
from tests.backends.test_projections import _blob, _edit
from tests.conftest import (
    AUTHORITY, LEDGER_ID, PEOPLE, TEAM, World, build_world, fixed_key,
)
from tests.unit.test_state_codec import events_of, fold

PERSONS = sorted(PEOPLE)
PLACES = [None, "site:A", "site:A-R1", "site:B"]
HOLDERS = ["STF-01", "STF-02", "STF-03", "STF-04", "POL-01"]

step = st.fixed_dictionaries({
    "kind": st.sampled_from(["handover"] * 4 + ["store", "store", "retrieve", "retrieve",
                                                 "duty start", "duty end", "log key"]),
    "lot": st.sampled_from(["LOT-1", "LOT-2"]),
    "to": st.sampled_from(HOLDERS),
    "full_team": st.booleans(),  # else one staff short, kept with an acknowledgement
    "place": st.sampled_from(PLACES),
    "minutes": st.integers(min_value=0, max_value=40),
    "duty": st.lists(st.sampled_from(PERSONS), min_size=1, max_size=5, unique=True),
})


@pytest.fixture
def ledger(backend: str) -> Iterator[World]:
    """A genesis naming the witness DIO-01, ten enrolled people, a log key, two lots, sites
    (A-R1 within A) and the secure room SR-3 within the institute CEI."""
    world = build_world(backend, witnesses={"DIO-01": fixed_key("DIO-01").public_key})
    app, clock = world.app, world.clock
    app.set_log_key(fixed_key("LOG-0").public_key, world.signers[AUTHORITY], clock.now)
    for site_id, within in (("A", None), ("A-R1", "A"), ("B", None), ("CEI", None)):
        world.site(site_id, within)
    world.room("SR-3", within="CEI")
    for lot_id in ("LOT-1", "LOT-2"):
        world.register(lot_id)
    yield world
    world.app.close()


def record(world: World, s: dict[str, Any]) -> None:
    """Record one drawn step if the recorder accepts it (a refused one writes nothing)."""
    app = world.app
    world.clock.now += timedelta(minutes=s["minutes"])
    when = world.clock.now
    team = TEAM if s["full_team"] else TEAM[:5]
    short = {} if s["full_team"] else {"acknowledge": "a staff member was at the gate"}
    try:
        if s["kind"] == "log key":
            app.set_log_key(fixed_key(f"LOG-{s['minutes']}").public_key,
                            world.signers[AUTHORITY], when)
            return
        if s["kind"] in ("duty start", "duty end"):
            world.step("room:SR-3", "duty.started" if s["kind"] == "duty start"
                       else "duty.ended", {}, s["duty"], when, location="SR-3")
            return
        lot = app.lot(s["lot"]).state
        checked = {"seals_checked": sorted(lot.seals), "count_checked": lot.count}
        stream, in_room = f"lot:{s['lot']}", lot.holder == "room:SR-3"
        if s["kind"] == "handover" and not in_room:
            to = s["to"] if s["to"] != lot.holder else "STF-04"
            world.handover(s["lot"], lot.holder, to, team=team, seals=list(lot.seals),
                           count=lot.count, at=when, place=s["place"], **short)
        elif s["kind"] == "store" and not in_room:
            world.step(stream, "lot.stored", {"from": lot.holder, "room": "SR-3", **checked},
                       team, when, location="SR-3", **short)
        elif s["kind"] == "retrieve" and in_room:
            world.step(stream, "lot.retrieved", {"room": "SR-3", "to": s["to"], **checked},
                       team, when, location="SR-3", **short)
    except (PolicyViolation, InputError, KeyringError, ConcurrentChange):
        pass


def full_fold(world: World, until: int | None = None) -> LedgerState:
    """Every event of the log (up to position ``until``) folded into a new state."""
    events = [e for e in events_of(world) if until is None or e.position <= until]
    return fold(events)[0]


def resumed_from(view: Any) -> LedgerState:
    """The fold a catch-up of ``view`` would resume from: what the view saved."""
    return CustodyProjection(view).state


def plain(value: Any) -> Any:
    """A saved attribute as a comparable value (the view's per-stream maps read its rows)."""
    return dict(value.items()) if isinstance(value, Mapping) else value


def test_a_fold_resumed_from_the_view_holds_every_attribute_the_codec_saves(ledger) -> None:
    world = ledger
    world.step("room:SR-3", "duty.started", {}, TEAM[:4], location="SR-3")
    world.step("lot:LOT-1", "lot.stored", {"from": "STF-01", "room": "SR-3",
                                           "seals_checked": ["SEAL-1", "SEAL-2"],
                                           "count_checked": 30}, TEAM, location="SR-3")
    world.step("room:SR-3", "duty.ended", {}, TEAM[:2],
               at=world.clock.now + timedelta(hours=1), location="SR-3")
    world.step("room:SR-3", "duty.started", {}, TEAM,  # the gap the step before opened closes
               at=world.clock.now + timedelta(hours=1), location="SR-3")
    world.handover("LOT-2", "STF-01", "STF-02", place="site:A")
    world.app.set_log_key(fixed_key("LOG-1").public_key, world.signers[AUTHORITY],
                          world.clock.now)
    world.handover("LOT-2", "STF-02", "STF-03", place="site:B")
    view = access.writable_view(world.app)
    head = world.app.last_position()
    view.clear()
    catch_up(view, world.app.recorder, until=head - 4)
    catch_up(view, world.app.recorder)  # resumed from what the view saved at head - 4

    resumed, whole = resumed_from(view), full_fold(world)

    assert resumed.log_keys == whole.log_keys == [fixed_key("LOG-0").public_key.hex,
                                                  fixed_key("LOG-1").public_key.hex]
    assert resumed.witnesses == whole.witnesses and list(whole.witnesses) == ["DIO-01"]
    assert resumed.recorded_at_position == whole.recorded_at_position == head
    assert whole.gaps and whole.whereabouts and whole.entered is not None
    for name in sorted(SAVED):
        assert plain(getattr(resumed, name)) == plain(getattr(whole, name)), name
    assert encode_state(resumed) == encode_state(whole)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=6),
       cuts=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=3),
       page=st.integers(min_value=1, max_value=8))
def test_the_view_caught_up_to_any_cut_and_resumed_is_the_full_fold(ledger, steps, cuts,
                                                                   page) -> None:
    """Drawn steps (each example adds to the same ledger), then the view folded again from
    nothing, stopping at drawn cuts of the log: at each cut the fold it saved is the fold of
    the log up to there, and resumed from the last cut to the end, the fold of it all."""
    world = ledger
    for s in steps:
        record(world, s)
    positions = [e.position for e in events_of(world)]
    view = access.writable_view(world.app)
    view.clear()
    for cut in sorted({positions[c % len(positions)] for c in cuts}):
        catch_up(view, world.app.recorder, page=page, until=cut)
        assert encode_state(resumed_from(view)) == encode_state(full_fold(world, cut)), cut

    catch_up(view, world.app.recorder, page=page)

    assert encode_state(resumed_from(view)) == encode_state(full_fold(world))


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=6), saved=st.booleans())
def test_an_audit_resumed_from_any_cut_is_the_full_fold(ledger, tmp_path, steps,
                                                        saved) -> None:
    """The resumed audit's twin: each example adds drawn steps to the same ledger, then
    verifies it resuming from the state the last example saved (the log cut where it
    stood then), and saves again or not: its state is always the fold of the whole log."""
    world = ledger
    directory = tmp_path / "audit"  # the examples share it, as they share the ledger
    for s in steps:
        record(world, s)
    resume = SavedState(directory, LEDGER_ID) if exists(directory) else None
    verifier = Verifier(world.app.recorder, workers=1, resume=resume)
    try:
        verifier.run()
        assert encode_state(verifier.state) == encode_state(full_fold(world))
        if saved or resume is None:
            save(directory, verifier.reached(), verifier.state)
    finally:
        verifier.close()



def test_a_saved_fold_edited_into_a_pickle_is_reported_and_never_loaded(ledger) -> None:
    """The view's tables are in the ledger's database, which anyone with write access can
    edit: a saved fold replaced by a pickle (framed as a record, as the rows are kept) is a
    one-line error naming the remedy, and a mismatch for verify --projections; never run."""
    db = str(ledger.db)
    runner = CliRunner()
    assert runner.invoke(main, ["--db", db, "status"]).exit_code == 0
    payload = pickle.dumps(("os.system", "echo owned"))
    framed = len(payload).to_bytes(4, "big") + payload
    _edit(db, f"UPDATE view_fold SET value = {_blob(db, framed)} WHERE key = 'state'")

    shown = runner.invoke(main, ["--db", db, "presence", "--room", "SR-3"])
    report = runner.invoke(main, ["--db", db, "verify", "--projections", "--json",
                                  "--workers", "1"])

    assert shown.exit_code == 2, shown.output
    assert shown.stderr.startswith("error: the view's saved fold state does not decode")
    assert shown.stderr.rstrip().endswith("run 'custody projections rebuild'")
    assert shown.stderr.count("\n") == 1
    assert report.exit_code == 1, report.output
    assert [(f["code"], f["evidence"]["table"]) for f in json.loads(report.stdout)["findings"]
            ] == [("PROJECTION_MISMATCH", "view_fold")]
    assert runner.invoke(main, ["--db", db, "projections", "rebuild"]).exit_code == 0
    assert runner.invoke(main, ["--db", db, "presence", "--room", "SR-3"]).exit_code == 0
