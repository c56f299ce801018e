"""The report in a real browser: Debian's Chromium, headless, driven by Playwright.

Opens the report from file://, reads what a person sees (the summary, a finding, a lot's
steps, the chart), records every request the page makes and asserts none left the file,
and saves a screenshot to docs/report.png (the README shows it).

Never skipped: without /usr/bin/chromium (``bash .ci/ensure-chromium`` installs it) or
the playwright package (the ``test`` extra) the test fails and says what to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli import times
from cli.report import _words as report_words
from ledger.application.custody import open_ledger
from ledger.core import canonical
from ledger.projections import access
from ledger.report.data import gather
from ledger.report.selection import Selection
from ledger.report.html import render
from ledger.verify import Verifier
from tests.report_day import incident_ledger
from tests.unit.test_exam_day import at

CHROMIUM = Path(os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"


def _chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"the browser test needs Debian's chromium at {CHROMIUM}: run "
                    "'bash .ci/ensure-chromium' (the README's test command does)", pytrace=False)
    return CHROMIUM


def _report(tmp_path: Path) -> Path:
    """The report of lot Q-S01 on the incident day, made at a fixed moment (so the committed
    screenshot changes only when the report's look does), written as ``custody report
    --tz Asia/Shanghai`` writes it: the exam day's times as the officers lived them."""
    db = str(incident_ledger(tmp_path))
    app = open_ledger(db, read_only=True)
    answer = access.for_reading(app, lambda: open_ledger(db))
    verifier = Verifier(app.recorder, workers=1)
    try:
        data = gather(app, answer.view, answer.position, Selection(lot="Q-S01"),
                      now=canonical.format_timestamp(at(40)), verify=verifier.run)
    finally:
        verifier.close()
        if answer.owner is not app:
            answer.owner.close()
        app.close()
    data.database = "custody.db"  # not the test's temporary folder, in the screenshot
    out = tmp_path / "report.html"
    times.choose("Asia/Shanghai")
    try:
        out.write_text(render(data, lambda text: text, words=report_words()), encoding="utf-8")
    finally:
        times.choose(None)
    return out


def test_the_report_in_chromium_shows_its_findings_and_loads_nothing(tmp_path: Path) -> None:
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs playwright: pip install -e '.[test]'", pytrace=False)
    report = _report(tmp_path)
    url = report.as_uri()
    requests: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")

            summary = page.locator("#summary").inner_text()
            assert "NOT intact" in summary
            assert "DUTY_UNCOVERED" in summary
            finding = page.locator("tr.finding").first.inner_text()
            assert "DUTY_UNCOVERED" in finding
            assert "secure room SR-3 holds papers from 2026-06-07T20:00:00+08:00" in finding
            lot = page.locator("#lot-Q-S01")
            assert lot.is_visible()
            assert "Lot Q-S01: question_paper of gaokao-2026/math" in lot.inner_text()
            steps = lot.locator("tr.step")
            assert steps.count() == 9  # registered, packed, 4 in the box, unpacked, out, unsealed
            assert "lot.unsealed" in steps.nth(8).inner_text()
            assert page.locator("svg.chart rect.gap").count() == 1
            assert page.locator("#checkpoint-note").inner_text().startswith("test-ledger\n")
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    assert requests == [url]  # the file itself, and nothing else
    assert SCREENSHOT.stat().st_size > 10_000
