"""Where the recorder stands: a step is judged against the view's saved fold of the whole log
when the view agrees with the log, so its cost does not grow with the ledger; the log
itself otherwise (``ledger/application/standing.py``). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.application.custody import CustodyLedger
from ledger.core.errors import StorageError
from ledger.projections import access
from tests.conftest import World
from tests.tamper.attacker import located, verify

# The `day` fixture: LOT-1 registered at 12, handed STF-01 -> STF-02 at 13, STF-02 -> STF-03
# at 14; LOT-2 likewise at 15-17. LOT-1 is held by STF-03.


def streams_folded(app: CustodyLedger) -> list[list[str]]:
    """Record every read of whole streams from the log ``app`` makes from now on."""
    reads: list[list[str]] = []
    select = app.recorder.select_streams

    def counting(streams: Any) -> Any:
        reads.append(sorted(streams))
        return select(streams)

    app.recorder.select_streams = counting  # type: ignore[method-assign]
    return reads


def test_a_step_is_judged_against_the_saved_fold_without_folding_its_streams(day: World) -> None:
    reads = streams_folded(day.app)
    receipt = day.handover("LOT-1", "STF-03", "STF-01")
    assert reads == []  # neither the lot's stream nor anyone's was folded from the log
    assert (receipt.seq, receipt.position, receipt.warnings) == (4, 18, ())
    assert day.app.lot("LOT-1").state.holder == "STF-01"
    assert located(verify(day.db)) == set()


def test_without_a_usable_view_the_streams_are_folded_from_the_log(day: World) -> None:
    """A view that cannot be read (here: its saved fold edited into nonsense) is no gate."""
    view = access.writable_view(day.app)
    with view._transaction(True) as c:  # noqa: SLF001 - the edit an intruder would make
        c.execute("UPDATE view_fold SET value = 'not json' WHERE key = 'state'")
    reads = streams_folded(day.app)
    receipt = day.handover("LOT-1", "STF-03", "STF-01")
    assert ["lot:LOT-1"] in [[s for s in read if s == "lot:LOT-1"] for read in reads]
    assert (receipt.seq, receipt.position) == (4, 18)
    assert located(verify(day.db)) == set()


def test_a_rewritten_last_step_sends_the_recorder_to_the_log_which_refuses(day: World,
                                                                           raw) -> None:
    """LOT-1's last step rewritten after the view folded it: its stored bytes no longer hash
    to the step the saved fold stands at, so the recorder folds the lot from the log, finds
    the step damaged and writes nothing."""
    raw.set_state("lot:LOT-1", 3, raw.state("lot:LOT-1", 3).replace(b"STF-03", b"STF-04"))
    with pytest.raises(StorageError, match=r"damaged at position 14 \(lot:LOT-1\)"):
        day.handover("LOT-1", "STF-03", "STF-01")
    assert raw.count() == 17


def test_a_step_the_view_found_damaged_is_refused_before_anyone_builds_on_it(day: World,
                                                                            raw) -> None:
    """LOT-1's second step rewritten before the view was folded: the view holds the error at
    its position, and the recorder refuses to record on that lot (nothing written)."""
    raw.set_state("lot:LOT-1", 2, raw.state("lot:LOT-1", 2).replace(b"STF-02", b"STF-04"))
    access.rebuild(day.app)
    with pytest.raises(StorageError, match=r"damaged at position 13 \(lot:LOT-1\)"):
        day.handover("LOT-1", "STF-03", "STF-01")
    assert raw.count() == 17
    day.handover("LOT-2", "STF-03", "STF-01")  # another lot's steps are sound
    assert raw.count() == 18


def test_an_earlier_step_rewritten_after_the_view_folded_it_is_left_to_verify(day: World,
                                                                             raw) -> None:
    """What the recorder trusts (docs/trust.md, "What the recorder trusts"): a step rewritten in
    middle of a stream, after the view folded it, with the stream's last step untouched, is
    not re-read by the recorder; verify, which re-checks every stored byte, reports it."""
    raw.set_state("lot:LOT-1", 2, raw.state("lot:LOT-1", 2).replace(b"STF-02", b"STF-04"))
    receipt = day.handover("LOT-1", "STF-03", "STF-01")
    assert receipt.position == 18
    found = located(verify(day.db))
    assert ("NON_CANONICAL", 13, "lot:LOT-1") in found  # its signature keys re-sorted
    assert {position for _, position, _ in found} == {13, 14}, found  # none at the new step
