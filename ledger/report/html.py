"""The report as one self-contained HTML file, rendered with Jinja2.

Autoescaping is on for everything (``autoescape=True``, not by file extension): every value
from the ledger — a location, a note, a person's name — reaches the page as text, never as
markup. The page loads nothing: its style is inline, the coverage chart is inline SVG drawn
from ``chart.coverage_chart``, and a Content-Security-Policy forbids any fetch besides.

The report's own words go through ``jinja2.ext.i18n`` (``{% trans %}`` and ``_()``) with the
gettext callables the caller passes (``cli.i18n``'s), so a translated catalog translates
the report too. What the ledger holds is named in the reader's language by ``Words`` (a
finding's text, a step, a lot's kind, a role), also the caller's; codes, ids, values and
times stay as stored.
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


@dataclass(frozen=True)
class Words:
    """How the reader's language names what the ledger holds; by default (English) each
    is shown as stored. ``text``: a finding's or duty gap's message (a core ``Message``);
    ``step``: an event type (``lot.handed_over``); ``kind``: a lot's kind; ``role``: a
    roster role."""

    text: Callable[[str], str] = _same
    step: Callable[[str], str] = _same
    kind: Callable[[str], str] = _same
    role: Callable[[str], str] = _same


def when(moment: str | None) -> str:
    """A canonical timestamp as a reader scans it: ``2026-06-07 12:00:00Z`` (the fraction
    only when it is not zero). Times are UTC, as the ledger stores them."""
    if not moment:
        return ""
    text = moment.replace("T", " ", 1)
    return text.replace(".000000Z", "Z")


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
    env.filters["when"] = when
    env.filters["code"] = breakable_code
    words = words or Words()
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
    charts = {room.room: coverage_chart(room, (words or Words()).role) for room in data.rooms}
    return template.render(report=data, charts=charts, lang=lang)
