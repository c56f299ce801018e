"""The report as one self-contained HTML file, rendered with Jinja2.

Autoescaping is on for everything (``autoescape=True``, not by file extension): every value
from the ledger — a location, a note, a person's name — reaches the page as text, never as
markup. The page loads nothing: its style is inline, the coverage chart is inline SVG drawn
from ``chart.coverage_chart``, and a Content-Security-Policy forbids any fetch besides.

The report's own words go through ``jinja2.ext.i18n`` (``{% trans %}`` and ``_()``) with the
gettext callables the caller passes (``cli.i18n``'s), so a translated catalog translates
the report too. What the ledger holds is named in the reader's language by ``Words`` (a
finding's text, a step, a lot's kind, a role, a time in the reader's time zone), also the
caller's; codes, ids and values stay as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jinja2
from markupsafe import Markup, escape

from ledger.report.chart import coverage_chart
from ledger.report.data import ReportData

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def _ngettext(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _same(text: str) -> str:
    return text


def utc(moment: str | None) -> str:
    """A canonical timestamp in RFC 3339 with seconds and its offset, in UTC:
    ``2026-06-07T04:00:00+00:00`` (the caller's ``Words.when`` shows another zone)."""
    if not moment:
        return ""
    return f"{moment[:19]}+00:00"


@dataclass(frozen=True)
class Words:
    """How the reader's language names what the ledger holds; by default (English) each
    is shown as stored. ``text``: a finding's or duty gap's message (a core ``Message``);
    ``step``: an event type (``lot.handed_over``); ``kind``: a lot's kind; ``role``: a
    roster role; ``when``: a stored time (RFC 3339 with seconds and an offset, in the
    reader's time zone; UTC by default)."""

    text: Callable[[str], str] = _same
    step: Callable[[str], str] = _same
    kind: Callable[[str], str] = _same
    role: Callable[[str], str] = _same
    when: Callable[[str | None], str] = utc


def breakable_code(code: str | None) -> Markup:
    """A finding code that may wrap after each underscore in a narrow column."""
    return Markup("_<wbr>").join(escape(part) for part in (code or "").split("_"))


def environment(gettext: Gettext, ngettext: Ngettext | None = None,
                words: Words | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ledger.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code"] = breakable_code
    words = words or Words()
    env.filters["when"] = words.when
    # In a narrow column a time may wrap after its date: 2026-06-07T / 06:10:00+08:00.
    env.filters["when_breakable"] = lambda moment: Markup("T<wbr>").join(
        escape(part) for part in words.when(moment).split("T", 1))
    env.filters["text"] = words.text
    env.filters["step"] = words.step
    env.filters["kind"] = words.kind
    env.filters["role"] = words.role
    env.install_gettext_callables(gettext, ngettext or _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def render(data: ReportData, gettext: Gettext, ngettext: Ngettext | None = None,
           lang: str = "en", words: Words | None = None) -> str:
    """The report for ``data`` as an HTML document (text), its own words through
    ``gettext``/``ngettext``, the ledger's through ``words``; ``lang`` is the page's
    ``<html lang>``."""
    template = environment(gettext, ngettext, words).get_template("report.html.j2")
    words = words or Words()
    charts = {room.room: coverage_chart(room, words.role, words.when) for room in data.rooms}
    return template.render(report=data, charts=charts, lang=lang)
