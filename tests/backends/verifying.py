"""The auditor's verifier over a ledger file, run both ways the log audit can run: in the
verifying process, and with two workers and the log audit in its helper process
(``ledger/verify/log_helper.py``) on pages of three rows. Both must report the same."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ledger.application.custody import open_ledger
from ledger.core.findings import Finding
from ledger.verify import Verifier
from ledger.verify.log import Evidence


HELPED = {"workers": 2, "page_size": 3, "helper_from": 0}  # both helpers, whatever the length


@contextmanager
def opened(db: str, **options: Any) -> Iterator[Verifier]:
    """A verifier over ``db`` opened read-only, as ``custody verify`` opens it; closed after."""
    reader = open_ledger(db, read_only=True)
    verifier = Verifier(reader.recorder, **options)
    try:
        yield verifier
    finally:
        verifier.close()
        reader.close()


def verified(db: str, evidence: Sequence[Evidence] = ()) -> list[Finding]:
    """Every finding of ``custody verify`` over ``db``, the same both ways."""
    runs = []
    for options in ({}, HELPED):
        with opened(db, evidence=list(evidence), **options) as verifier:
            runs.append(verifier.run().findings)
    in_process, helped = runs
    assert helped == in_process
    return in_process


def counted_helpers(monkeypatch: Any, name: str, method: str) -> list[Any]:
    """Replace the verifier's helper class ``name`` (``LogHelper``, ``PresenceFeed``) with a
    subclass that counts, in ``pages``, the calls of ``method`` a page makes (``add_page``,
    ``hand_over``). Returns the list each helper a run makes is added to."""
    import ledger.verify.verifier as verifier_module

    made: list[Any] = []
    base = getattr(verifier_module, name)

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.pages += 1
        return getattr(base, method)(self, *args, **kwargs)

    def start(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self.pages = 0
        made.append(self)

    monkeypatch.setattr(verifier_module, name,
                        type(f"Counted{name}", (base,), {"__init__": start, method: counting}))
    return made
