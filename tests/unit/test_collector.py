"""A long fold (verify, a rebuild of the view, a monitor's look) runs with the cyclic
collector spaced out, and leaves the pace it found."""

from __future__ import annotations

import gc

from ledger.core.collector import LONG_FOLD, long_fold
from ledger.projections.access import rebuild
from ledger.verify import Verifier


def test_long_fold_spaces_collections_out_and_restores_the_pace_after():
    before = gc.get_threshold()
    with long_fold():
        assert gc.get_threshold() == LONG_FOLD
        with long_fold():
            pass
        assert gc.get_threshold() == LONG_FOLD
    assert gc.get_threshold() == before


def test_the_pace_is_restored_when_the_fold_fails():
    before = gc.get_threshold()
    try:
        with long_fold():
            raise KeyError("a damaged page")
    except KeyError:
        pass
    assert gc.get_threshold() == before


def test_verify_and_a_rebuild_fold_at_the_long_fold_pace(day):
    before, seen = gc.get_threshold(), []
    report = Verifier(day.app.recorder).run(progress=lambda n: seen.append(gc.get_threshold()))
    assert report.intact and seen and set(seen) == {LONG_FOLD}
    assert gc.get_threshold() == before
    seen.clear()
    rebuild(day.app, progress=lambda n: seen.append(gc.get_threshold()))
    assert seen and set(seen) == {LONG_FOLD}
    assert gc.get_threshold() == before
