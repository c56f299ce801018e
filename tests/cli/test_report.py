"""`custody report` end to end: the HTML it writes (summary, findings, steps, the signed
checkpoint, everything from the ledger escaped, nothing loaded from anywhere) and every bad
input refused with one line and nothing written."""

from __future__ import annotations

import html
import os
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.report_day import HOSTILE_LOCATION, REASON, incident_ledger


@pytest.fixture(scope="module")
def incident_db(tmp_path_factory) -> Path:
    return incident_ledger(tmp_path_factory.mktemp("incident"))


@pytest.fixture
def db(tmp_path, incident_db) -> Path:
    copy = tmp_path / "custody.db"
    copy.write_bytes(incident_db.read_bytes())
    return copy


def report(db: Path, *args: str):
    return CliRunner().invoke(main, ["--db", str(db), "report", *args])


def text_of(page: str) -> str:
    """The page's text as a reader sees it: tags dropped (a line-break opportunity, <wbr>,
    is no space), entities decoded, spaces joined."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.replace("<wbr>", ""))).split())


def test_the_report_shows_the_summary_every_finding_the_steps_and_the_checkpoint(
        db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = report(db, "--out", str(out))

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: 6 lot(s), 1 secure room(s), 2 finding(s); "
                                    "the ledger is NOT intact; as of log position ")
    page = out.read_text(encoding="utf-8")
    text = text_of(page)
    assert "NOT intact" in text
    assert "1 error(s) and 1 warning(s)" in text
    for code in ("ACKNOWLEDGED_VIOLATION", "DUTY_UNCOVERED"):
        assert page.count(f'<tr class="finding">\n      <td class="code">'
                          f'{code.replace("_", "_<wbr>")}</td>') == 1
    # Times as RFC 3339 with seconds and an offset, in the ledger's zone (its genesis names
    # none: UTC).
    assert ("secure room SR-3 held papers from 2026-06-07T12:00:00+00:00 to "
            "2026-06-07T22:00:00+00:00 with too few on duty") in text
    assert "Lot LOT-X: question_paper of gaokao-2026/math" in text
    assert "2026-06-08T06:00:00+00:00 lot.handed_over Secure room 1 STF-01 → STF-02" in text
    assert f"ACKNOWLEDGED VIOLATION: {REASON}" in text
    assert "step 4 of container BOX-1" in text  # a bag's steps inside the box are its own
    note = re.search(r'<pre class="note" id="checkpoint-note">(.*?)</pre>', page, re.S)
    assert note is not None
    assert html.unescape(note.group(1)).startswith("test-ledger\n")
    assert "\n\u2014 test-ledger " in html.unescape(note.group(1))  # the log key's signature
    assert "this checkpoint, signed by the ledger's log key, commits to the first" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("custody.db")] == [
        "report.html"]


def test_everything_from_the_ledger_is_escaped(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert report(db, "--out", str(out), "--lot", "LOT-X").exit_code == 0
    page = out.read_text(encoding="utf-8")

    assert "<script" not in page.lower()
    assert "<b>" not in page
    assert "&lt;script&gt;alert(&#39;custody&#39;)&lt;/script&gt;" in page
    assert "one bag torn &lt;b&gt;in transit&lt;/b&gt;" in page
    assert HOSTILE_LOCATION in text_of(page)  # and a reader sees it as it was recorded


def test_the_report_loads_nothing_from_anywhere(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert report(db, "--out", str(out)).exit_code == 0
    page = out.read_text(encoding="utf-8")

    for pattern in (r"https?:", r"//", r"\bsrc\s*=", r"\bhref\s*=", r"@import",
                    r"url\((?!#)", r"<script", r"<link", r"<iframe", r"<object", r"<embed",
                    r"<img"):
        assert not re.search(pattern, page, re.I), pattern
    assert "default-src 'none'" in page  # and a Content-Security-Policy forbids any fetch
    assert "<svg" in page and "DUTY_UNCOVERED:" in page  # the chart is inline, gap marked
    assert "@media print" in page and "break-before: page" in page


def test_a_lot_report_holds_that_lot_and_counts_the_findings_left_out(db: Path,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "q.html"
    result = report(db, "--out", str(out), "--lot", "Q-S01")

    assert result.exit_code == 0, result.output
    text = text_of(out.read_text(encoding="utf-8"))
    assert "Lot Q-S01:" in text and "Lot LOT-X:" not in text
    assert "1 further finding(s) concern lots or rooms outside it" in text


def test_a_ledger_without_a_log_key_says_so_plainly(tmp_path: Path) -> None:
    db = incident_ledger(tmp_path, checkpoint=False)
    out = tmp_path / "report.html"
    assert report(db, "--out", str(out)).exit_code == 0
    assert ("This ledger names no log key, so it has no signed checkpoint: this report rests "
            "on the database alone.") in text_of(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("args, message", [
    (["--lot", "NO-SUCH"], "error: unknown lot NO-SUCH; "),
    (["--exam", "no-such"], "error: unknown exam no-such; "),
    (["--lot", "LOT-X", "--exam", "gaokao-2026"], "error: give one of --lot and --exam"),
    (["--from", "2026-06-08T08:00:00+08:00", "--to", "2026-06-08T07:00:00+08:00"],
     "error: --from 2026-06-08T00:00:00.000000Z is after --to 2026-06-07T23:00:00.000000Z"),
    (["--from", "yesterday"], "error: --from: "),
])
def test_bad_selections_are_one_line_errors_and_write_nothing(db: Path, tmp_path: Path,
                                                             args, message) -> None:
    out = tmp_path / "report.html"
    before = db.read_bytes()
    result = report(db, "--out", str(out), *args)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert db.read_bytes() == before


def test_an_out_that_cannot_be_written_is_a_one_line_error(db: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "report.html"
    result = report(db, "--out", str(missing))
    assert result.exit_code == 2
    assert result.stderr == (f"error: --out {missing}: folder {missing.parent} does not exist; "
                             "create it or name another\n")

    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = report(db, "--out", str(folder))
    assert result.exit_code == 2
    assert f"Invalid value for '--out': File '{folder}' is a directory." in result.stderr
    assert list(folder.iterdir()) == []

    if os.geteuid() != 0:  # root writes anywhere: the permission check cannot be seen
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = report(db, "--out", str(locked / "r.html"))
        assert result.exit_code == 2 and "is not writable" in result.stderr


def test_a_failed_write_leaves_the_old_report_and_no_partial_file(db: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    out = tmp_path / "report.html"
    out.write_text("the report from yesterday")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    result = report(db, "--out", str(out), "--force")

    assert result.exit_code == 2
    assert result.stderr == (f"error: --out {out}: cannot write it (No space left on device); "
                             "nothing was written\n")
    assert out.read_text() == "the report from yesterday"
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("custody.db")] == [
        "report.html"]


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["report", "--help"])
    assert result.exit_code == 0
    assert "custody report --out lot.html --lot MATH-Q-0001" in result.output


# -- in the reader's language --------------------------------------------------------------

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def test_the_report_in_chinese_keeps_codes_and_ids_as_stored_and_times_in_one_form(db: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "zh.html"
    result = CliRunner().invoke(main, ["--lang", "zh", "--db", str(db), "report",
                                       "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"已写入 {out}：6 个试卷袋，1 个保密室，2 个发现；账本不完整；"
                                    "截至日志位置 ")
    page = out.read_text(encoding="utf-8")
    text = text_of(page)
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh">')
    assert "<h2>摘要</h2>" in page and '<p class="verdict">不完整</p>' in page
    assert "已检查 18 条流中的 47 个事件" in text and "1 个错误，1 个警告" in text
    # The finding's text in Chinese, its code and the values it quotes as stored.
    assert page.count('<td class="code">ACKNOWLEDGED_<wbr>VIOLATION</td>') == 1
    assert (f"COUNT_MISMATCH 已在记录中确认（{REASON}）：清点数量 29，但记录为 30") in text
    assert ("保密室 SR-3 在 2026-06-07T12:00:00+00:00 至 2026-06-07T22:00:00+00:00 "
            "存有试卷但值守人员不足：需要 4 名 公安 或 工作人员") in text
    assert "DUTY_UNCOVERED: 保密室 SR-3 在" in page  # the chart's gap too
    # Steps, kinds and roles named as 'status' and 'history' name them; times in one form.
    assert "试卷袋 LOT-X：gaokao-2026/math 的试卷" in text
    assert "2026-06-08T06:00:00+00:00 交接 lot.handed_over Secure room 1 STF-01 → STF-02" in text
    assert "POL-01 (公安)" in text and "(police)" not in text
    assert f"已确认的违规： {REASON}" in text
    assert "容器 BOX-1 的第 4 步" in text
    for english in ("Summary", "NOT intact", "Findings", "Custody timelines", "acknowledged on "
                    "record", "held papers from", "step 4 of container"):
        assert english not in text, english


def test_the_report_in_english_has_no_chinese(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "en.html"
    result = CliRunner().invoke(main, ["--lang", "en", "--db", str(db), "report",
                                       "--out", str(out)])

    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "<h2>Summary</h2>" in page
    assert "2026-06-08T06:00:00+00:00 lot.handed_over Secure room 1 STF-01 → STF-02" in \
        text_of(page)
    assert not CJK.search(page) and not CJK.search(result.stdout)


def test_a_bad_selection_in_chinese_is_one_line_and_writes_nothing(db: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "zh.html"
    result = CliRunner().invoke(main, ["--lang", "zh", "--db", str(db), "report",
                                       "--out", str(out), "--lot", "NOPE"])

    assert result.exit_code == 2, result.output
    assert result.stderr == "错误：未知的试卷袋 NOPE；'custody status' 列出所有试卷袋\n"
    assert not out.exists()


def test_report_refuses_an_existing_file_as_export_does(db: Path, tmp_path: Path) -> None:
    """report used to replace --out silently while export refused: one rule, with --force."""
    out = tmp_path / "report.html"
    out.write_text("kept")
    result = report(db, "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {out} already exists; choose another file, or give "
                             "--force to replace it\n")
    assert out.read_text() == "kept"
    assert report(db, "--out", str(out), "--force").exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
