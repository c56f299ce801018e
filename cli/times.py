"""Times as the officer lives them: every time the CLI prints for a person is RFC 3339 with
seconds and an offset (``2026-06-07T06:10:00+08:00``), in one time zone.

The zone is chosen once per command: ``--tz`` on the root group, else ``CUSTODY_TZ``, else the
ledger's own (named in its genesis: ``init --time-zone``, by default the offset of the
genesis's occurred_at), else UTC. It is an IANA name (``Asia/Shanghai``, read through
``zoneinfo``) or a fixed offset (``+08:00``). The ledger stores every time in UTC; JSON output
keeps the stored values.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ledger.core.errors import InputError, LedgerError

_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")

_chosen: tzinfo | None = None  # --tz / CUSTODY_TZ
_ledger: Callable[[], str | None] | None = None  # the ledger's own, read when first needed
_resolved: tzinfo | None = None


def parse_zone(name: str, option: str = "--tz") -> tzinfo:
    """A time zone from an IANA name or an offset ``+HH:MM``; InputError naming ``option``."""
    match = _OFFSET.fullmatch(name)
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        if offset > timedelta(hours=14) or int(minutes) > 59:
            raise InputError(f"{option} {name}: an offset is at most ±14:00")
        return timezone(-offset if sign == "-" else offset)
    try:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}", name):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{option} {name!r}: unknown time zone; give an IANA name such as "
                         "Asia/Shanghai, or an offset such as +08:00") from None


def offset_of(moment: datetime) -> str:
    """The fixed offset of an aware datetime, as ``+HH:MM`` (a time zone the genesis names
    when ``init`` is given none)."""
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def choose(name: str | None) -> None:
    """Start a command: the zone ``--tz``/``CUSTODY_TZ`` names, or None for the ledger's."""
    global _chosen, _ledger, _resolved
    _chosen = parse_zone(name) if name else None
    _ledger, _resolved = None, None


def option_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--tz`` / ``CUSTODY_TZ``: a zone this machine does not know is one ``error:`` line."""
    from cli.errors import LedgerFailure  # (cli.errors reads cli.i18n, which reads this)

    try:
        choose(value)
    except InputError as exc:
        raise LedgerFailure(exc) from None


def from_ledger(read: Callable[[], str | None]) -> None:
    """Where the ledger's own zone comes from, read only if a time is printed."""
    global _ledger
    if _ledger is None:
        _ledger = read


def zone() -> tzinfo:
    """The zone this command prints times in."""
    global _resolved
    if _resolved is None:
        _resolved = _chosen or _ledger_zone() or timezone.utc
    return _resolved


def _ledger_zone() -> tzinfo | None:
    if _ledger is None:
        return None
    try:
        name = _ledger()
    except LedgerError:  # a damaged or missing genesis: its own command says so
        return None
    if not name:
        return None
    try:
        return parse_zone(name, "the ledger's time zone")
    except InputError as exc:  # a zone this machine's tz database lacks
        click.echo(f"warning: {exc}; times are shown in UTC (set --tz)", err=True)
        return None


def local(value: str | datetime | None, timespec: str = "seconds") -> str:
    """A stored time (canonical UTC text, or an aware datetime) as the officer reads it,
    to the second (or to ``timespec``); any other text unchanged."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _shown(value, zone(), timespec)
    if _CANONICAL.fullmatch(value):
        return _stored_shown(value, zone(), timespec)
    return value


@lru_cache(maxsize=4096)
def _stored_shown(value: str, tz: tzinfo, timespec: str) -> str:
    """A stored time as shown in ``tz``, remembered by time and zone: a listing of a
    province's lots shows many steps of the same minute."""
    return _shown(datetime.fromisoformat(value[:-1] + "+00:00"), tz, timespec)


def _shown(moment: datetime, tz: tzinfo, timespec: str) -> str:
    try:
        return moment.astimezone(tz).isoformat(timespec=timespec)
    except (OverflowError, ValueError):  # the year 1 or 9999 pushed out of range
        return moment.astimezone(timezone.utc).isoformat(timespec=timespec)


def localised(value: Any) -> Any:
    """A message argument with a stored time shown as :func:`local` shows it."""
    return local(value) if isinstance(value, str) and _CANONICAL.fullmatch(value) else value


def localised_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """A message's arguments with each stored time shown as :func:`local` shows it, except
    that two different moments that would read the same to the second are both shown to the
    microsecond: "recorded at 14:54:20, before the event before it (recorded at 14:54:20)"
    would seem to compare a time with itself."""
    stored = {key: value for key, value in args.items()
              if isinstance(value, str) and _CANONICAL.fullmatch(value)}
    shown = {key: local(stored[key]) if key in stored else value for key, value in args.items()}
    alike = [key for key, value in stored.items()
             if any(shown[other] == shown[key] and stored[other] != value for other in stored)]
    for key in alike:
        shown[key] = local(stored[key], "microseconds")
    return shown
