"""What a report covers."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.core.errors import InputError


@dataclass(frozen=True)
class Selection:
    """What the report covers: one lot, one exam's lots, the lots with a step in a time window
    (canonical timestamps, either end open), or everything."""

    lot: str | None = None
    exam: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        if self.lot is not None and self.exam is not None:
            raise InputError("give one of --lot and --exam, not both")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InputError(f"--from {self.since} is after --to {self.until}: the window "
                             "would hold nothing; swap them")

    def within(self, moment: str) -> bool:
        return ((self.since is None or moment >= self.since)
                and (self.until is None or moment <= self.until))

    @property
    def windowed(self) -> bool:
        return self.since is not None or self.until is not None
