"""The report's template and chart on hand-made data: its words go through the gettext
callables it is given, and the chart puts a gap where its times say."""

from __future__ import annotations

from ledger.report.chart import LEFT, RIGHT, WIDTH, coverage_chart
from ledger.report.data import CheckpointInfo, ReportData
from ledger.report.rooms import Gap, RoomCoverage, Shift
from ledger.report.selection import Selection
from ledger.report.html import render


def _data(**changes) -> ReportData:
    values = dict(ledger_id="gd-2026", database="custody.db",
                  generated_at="2026-06-08T00:00:00.000000Z", log_position=12,
                  selection=Selection(), intact=True, events=12, streams=3, signatures=40,
                  errors=0, warnings=0, findings=[], findings_elsewhere=0, findings_cut=0,
                  lots=[], rooms=[], checkpoint=CheckpointInfo("no_checkpoint", 12))
    values.update(changes)
    return ReportData(**values)


def test_the_reports_own_words_go_through_the_gettext_it_is_given() -> None:
    words = {"Summary": "摘要", "Intact": "完好",
             "Every one of %(events)s events in %(streams)s streams was verified again "
             "(%(signatures)s signatures): no finding.":
             "全部 %(events)s 个事件（%(streams)s 条流，%(signatures)s 个签名）已重新验证：无发现。"}
    page = render(_data(), lambda text: words.get(text, text), lang="zh")

    assert '<html lang="zh">' in page
    assert "<h2>摘要</h2>" in page and "完好" in page
    assert "全部 12 个事件（3 条流，40 个签名）已重新验证：无发现。" in page
    assert "No signed checkpoint is stored for this ledger" in page  # untranslated: English


def test_a_translation_cannot_inject_markup_through_a_value() -> None:
    page = render(_data(ledger_id="<i>x</i>"), lambda text: text)
    assert "<i>x</i>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page


def test_the_chart_puts_the_gap_over_the_second_half_of_the_span() -> None:
    room = RoomCoverage("SR-1", "Room", "BM-1", "", "", "2026-06-07T00:00:00.000000Z",
                        "2026-06-07T10:00:00.000000Z",
                        stays=[("2026-06-07T00:00:00.000000Z", "2026-06-07T10:00:00.000000Z")],
                        shifts=[Shift("2026-06-07T00:00:00.000000Z",
                                      "2026-06-07T05:00:00.000000Z",
                                      (("P1", "police"), ("S1", "staff"))),
                                Shift("2026-06-07T05:00:00.000000Z",
                                      "2026-06-07T10:00:00.000000Z", (("P1", "police"),))],
                        gaps=[Gap("2026-06-07T05:00:00.000000Z", "2026-06-07T10:00:00.000000Z",
                                  "too few", (("P1", "police"),))])
    chart = coverage_chart(room)
    inner = WIDTH - LEFT - RIGHT
    (gap,) = chart.gaps
    assert (gap.x, gap.width) == (LEFT + inner / 2, inner / 2)
    assert chart.shifts[0].height == 2 * chart.shifts[1].height  # two on duty, then one
    assert [t.label for t in (chart.ticks[0], chart.ticks[-1])] == ["06-07 00:00", "06-07 10:00"]
    page = render(_data(rooms=[room]), lambda text: text)
    assert page.count('<rect class="gap"') == 1
