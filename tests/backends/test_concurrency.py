"""Concurrent writers to the same lot: exactly one wins, the other gets ConcurrentChange, nothing
is lost — on SQLite and on PostgreSQL. And what a lost race leaves in the positions."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ledger.application.custody import CustodyLedger, Receipt, open_ledger
from ledger.core.errors import ConcurrentChange, PolicyViolation
from ledger.verify import Verifier
from tests.conftest import SEALS, World

Draft = tuple[dict[str, Any], dict[str, bytes]]
# Everyone present signs, giver and receiver included, so any of these may take the lot.
TEAM = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-04"]


@pytest.fixture
def lot(world: World) -> World:
    """The world with LOT-1 registered (position 12), held by STF-01."""
    world.register("LOT-1")
    return world


@pytest.fixture
def writers(lot: World):
    """Two more CustodyLedger instances on the same database: two officers' terminals."""
    opened = [open_ledger(lot.db, clock=lot.clock) for _ in range(2)]
    yield opened
    for app in opened:
        app.close()


def draft(app: CustodyLedger, world: World, giver: str, receiver: str) -> Draft:
    """Read the lot through ``app`` and sign a handover, without submitting it yet."""
    captured: dict[str, Any] = {}

    def hold(body: dict[str, Any], signatures: dict[str, bytes]) -> None:
        captured.update(body=body, signatures=signatures)

    app.submit = hold  # type: ignore[method-assign]
    try:
        app.record_handover("LOT-1", giver, receiver, "Secure room 1", SEALS, 30,
                            world.clock.now, world.sign(*TEAM))
    finally:
        del app.submit
    return captured["body"], captured["signatures"]


def handovers(app: CustodyLedger) -> list[tuple[int, str, str]]:
    return [(e.body["seq"], e.body["from"], e.body["to"])
            for e in app.stream_events("lot:LOT-1") if e.body["type"] == "lot.handed_over"]


def test_second_writer_of_a_lot_gets_concurrent_change(lot: World, writers, raw) -> None:
    a, b = writers
    drafted_a = draft(a, lot, "STF-01", "STF-02")
    drafted_b = draft(b, lot, "STF-01", "STF-03")
    assert drafted_a[0]["seq"] == drafted_b[0]["seq"] == 2

    won = a.submit(*drafted_a)
    with pytest.raises(ConcurrentChange, match=r"lot:LOT-1 changed since this event was drafted.*"
                                               r"re-draft and sign again"):
        b.submit(*drafted_b)

    assert (won.seq, won.position) == (2, 13)
    assert raw.count() == 13
    assert handovers(lot.app) == [(2, "STF-01", "STF-02")]
    # The loser re-drafts from what is stored now, and nothing is lost.
    again = b.submit(*draft(b, lot, "STF-02", "STF-03"))
    assert (again.seq, again.position) == (3, 14)
    assert handovers(lot.app) == [(2, "STF-01", "STF-02"), (3, "STF-02", "STF-03")]
    assert Verifier(lot.app.recorder).run().intact


def lose_race_at_the_database(a: CustodyLedger, b: CustodyLedger, world: World) -> Receipt:
    """B passes every check of submit, then A commits, then B's append meets a log whose head
    moved: B is judged again against the ledger as it now stands, where the lot has moved on.

    Returns A's receipt; B's submit raises."""
    drafted_a = draft(a, world, "STF-01", "STF-02")
    drafted_b = draft(b, world, "STF-01", "STF-03")
    won: list[Receipt] = []
    put = b.events.put

    def a_commits_first(*args: Any, **kwargs: Any) -> Any:
        if not won:
            won.append(a.submit(*drafted_a))
        return put(*args, **kwargs)

    b.events.put = a_commits_first  # type: ignore[method-assign]
    try:
        with pytest.raises(ConcurrentChange,
                           match="lot:LOT-1 changed since this event was drafted.*re-draft"):
            b.submit(*drafted_b)
    finally:
        del b.events.put
    (receipt,) = won
    return receipt


def test_writer_losing_at_the_database_gets_concurrent_change(lot: World, writers, raw) -> None:
    a, b = writers
    won = lose_race_at_the_database(a, b, lot)

    assert (won.seq, won.position) == (2, 13)
    assert raw.count() == 13
    assert [row[1:] for row in raw.rows()[-2:]] == [("lot:LOT-1", 1), ("lot:LOT-1", 2)]
    assert handovers(lot.app) == [(2, "STF-01", "STF-02")]
    assert b.lot("LOT-1").state.holder == "STF-02"
    again = b.submit(*draft(b, lot, "STF-02", "STF-03"))
    assert again.seq == 3
    assert handovers(lot.app) == [(2, "STF-01", "STF-02"), (3, "STF-02", "STF-03")]
    assert raw.count() == 14


def test_writer_overtaken_after_reading_the_lot_gets_concurrent_change(lot: World, writers,
                                                                       raw) -> None:
    """A commits right after B's submit first reads the lot: B's step was drafted and signed
    for a lot that has moved on, so B must hear "re-draft", not a rule it did not break."""
    a, b = writers
    drafted_a = draft(a, lot, "STF-01", "STF-02")
    drafted_b = draft(b, lot, "STF-01", "STF-03")
    won: list[Receipt] = []
    # B reads the lot's stored rows (folding it from the log) or its last row (checking the
    # view's saved fold against the log): whichever read comes first, A commits right after.
    select_streams, select_events = b.recorder.select_streams, b.recorder.select_events

    def a_commits_after(found: Any, streams: Any) -> Any:
        if "lot:LOT-1" in streams and not won:
            won.append(a.submit(*drafted_a))
        return found

    b.recorder.select_streams = lambda streams: a_commits_after(  # type: ignore[method-assign]
        select_streams(streams), streams)
    b.recorder.select_events = lambda stream, **kw: a_commits_after(  # type: ignore[method-assign]
        select_events(stream, **kw), [stream])
    try:
        with pytest.raises(ConcurrentChange, match="re-draft and sign again"):
            b.submit(*drafted_b)
    finally:
        del b.recorder.select_streams, b.recorder.select_events
    assert [r.position for r in won] == [13]
    assert raw.count() == 13
    assert handovers(lot.app) == [(2, "STF-01", "STF-02")]


def test_a_lot_read_after_another_writers_step_reached_the_view_is_judged_again(
        lot: World, writers, raw) -> None:
    """B starts from the view's saved fold at position 12, reading the lot's head; A's
    handover is appended and folded into the view before B's judgement reads the lot itself,
    so B's lot entry is A's (held by STF-02) while its head is still step 1. Judged as it
    stands that is a custody error (exit 3) for a step whose only fault is being late: B
    sees the view moved, judges again, and hears "re-draft"."""
    a, b = writers
    drafted_a = draft(a, lot, "STF-01", "STF-02")
    drafted_b = draft(b, lot, "STF-01", "STF-03")
    won: list[Receipt] = []
    ledger = b.ledger

    def a_commits_first(*args: Any) -> Any:
        if not won:
            won.append(a.submit(*drafted_a))
        return ledger(*args)

    b.ledger = a_commits_first  # type: ignore[method-assign]
    try:
        with pytest.raises(ConcurrentChange, match="re-draft and sign again"):
            b.submit(*drafted_b)
    finally:
        del b.ledger
    assert [r.position for r in won] == [13]
    assert raw.count() == 13
    assert handovers(lot.app) == [(2, "STF-01", "STF-02")]


def test_a_key_revoked_between_judging_and_appending_is_seen_before_the_append(
        lot: World, writers, raw) -> None:
    """Judging and appending are atomic with respect to every stream the judgement read: B's
    handover is judged with STF-04's key valid; the authority revokes it before B appends;
    B's append finds the log moved, judges again, and refuses the step: nothing written."""
    a, b = writers
    drafted_b = draft(b, lot, "STF-01", "STF-02")
    revoked: list[Receipt] = []
    put = b.events.put

    def revoke_first(*args: Any, **kwargs: Any) -> Any:
        if not revoked:
            revoked.append(a.revoke_key("STF-04", "lost", lot.signers["AUTH-01"],
                                        lot.clock.now))
        return put(*args, **kwargs)

    b.events.put = revoke_first  # type: ignore[method-assign]
    try:
        with pytest.raises(PolicyViolation, match="STF-04 signed with key .* revoked earlier"):
            b.submit(*drafted_b)
    finally:
        del b.events.put
    assert raw.count() == 13  # the revocation only
    assert handovers(lot.app) == []
    assert Verifier(lot.app.recorder).run().intact


def test_a_lost_race_leaves_no_hole_in_the_positions_on_either_backend(lot: World, writers,
                                                                        raw) -> None:
    """The loser checks the log's head under the write lock before it inserts anything, so it
    takes no position: not even PostgreSQL's sequence, which a rolled-back insert would burn."""
    a, b = writers
    lose_race_at_the_database(a, b, lot)
    again = b.submit(*draft(b, lot, "STF-02", "STF-03"))

    report = Verifier(lot.app.recorder).run()

    assert report.events == 14
    assert raw.positions() == list(range(1, 15))
    assert again.position == 14
    assert report.findings == [] and report.intact


def test_threads_racing_for_one_lot_one_wins(lot: World, raw) -> None:
    racers = [open_ledger(lot.db, clock=lot.clock) for _ in range(3)]
    try:
        drafts = [draft(app, lot, "STF-01", receiver)
                  for app, receiver in zip(racers, ["STF-02", "STF-03", "STF-04"])]
        start = threading.Barrier(len(racers))
        outcomes: list[Any] = [None] * len(racers)

        def race(index: int) -> None:
            start.wait()
            try:
                outcomes[index] = racers[index].submit(*drafts[index])
            except Exception as exc:  # collected and asserted below
                outcomes[index] = exc

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(racers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        winners = [i for i, o in enumerate(outcomes) if isinstance(o, Receipt)]
        losers = [o for o in outcomes if not isinstance(o, Receipt)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, ConcurrentChange) for o in losers), outcomes
        assert len(losers) == 2
        assert raw.count() == 13
        (winner,) = winners
        stored = handovers(lot.app)
        assert stored == [(2, "STF-01", drafts[winner][0]["to"])]
        assert lot.app.lot("LOT-1").state.holder == drafts[winner][0]["to"]
    finally:
        for app in racers:
            app.close()
