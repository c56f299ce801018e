"""The report as one self-contained HTML file, rendered with Jinja2.

Autoescaping is on for everything (``autoescape=True``, not by file extension): every value
from the ledger — a location, a note, a person's name — reaches the page as text, never as
markup. The page loads nothing: its style is inline, the coverage chart is inline SVG drawn
from ``chart.coverage_chart``, and a Content-Security-Policy forbids any fetch besides.

The report's own words go through ``jinja2.ext.i18n`` (``{% trans %}`` and ``_()``) with the
gettext callables the caller passes (``cli.i18n``'s), so a translated catalog translates
the report too.
"""

from __future__ import annotations

from typing import Callable

import jinja2
from markupsafe import Markup, escape

from ledger.report.chart import coverage_chart
from ledger.report.data import ReportData

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def _ngettext(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


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


def environment(gettext: Gettext, ngettext: Ngettext | None = None) -> jinja2.Environment:
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
    env.install_gettext_callables(gettext, ngettext or _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def render(data: ReportData, gettext: Gettext, ngettext: Ngettext | None = None,
           lang: str = "en") -> str:
    """The report for ``data`` as an HTML document (text)."""
    template = environment(gettext, ngettext).get_template("report.html.j2")
    charts = {room.room: coverage_chart(room) for room in data.rooms}
    return template.render(report=data, charts=charts, lang=lang)
