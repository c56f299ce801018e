"""Every line a read command prints for a person speaks Chinese with --lang zh: run each read
command on the exam day (``tests/report_day.py``: duty gap, acknowledged violation, packed
lots, a checkpoint) and fail on any line with no CJK character that is not made only of ids,
numbers, hashes, times, finding codes and values recorded in the ledger. (--help and JSON
stay English by design.)"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.core.findings import CODES
from ledger.domain.stored import prepare
from tests.report_day import incident_ledger

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/-]*")
PLAIN = [
    re.compile(r"\d+([.,]\d+)*%?"),  # numbers, positions, counts, 2.1
    re.compile(r"[0-9a-f]{8,}"),  # hashes and key ids, often cut short with …
    re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"),  # times
    re.compile(r"v\d+"),  # a policy's version
]


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    return incident_ledger(tmp_path_factory.mktemp("zh"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def recorded_words(db: Path) -> set[str]:
    """Every word of every value the ledger holds (ids, places, names, notes ...), the event
    types and the finding codes: text that is data, printed as it was recorded."""
    words = set(CODES)
    with closing(sqlite3.connect(db)) as conn:
        for row in conn.execute("SELECT rowid, originator_id, originator_version, topic, "
                                "state FROM stored_events"):
            body = prepare(tuple(row)).body or {}
            words.add(body.get("type", ""))
            for text in _strings(body):
                words.update(WORD.findall(text))
    return words


def _data(word: str, known: set[str]) -> bool:
    """Whether a word is data: recorded (a party may be an id after vehicle:, room: or
    site:), a number, a hash, a time."""
    bare = re.sub(r"^(vehicle|room|site):", "", word)
    return (not word or word in known or bare in known
            or any(p.fullmatch(word) for p in PLAIN))


def untranslated(lines: list[str], known: set[str], extra: set[str]) -> list[str]:
    bad = []
    for line in lines:
        if not line.strip() or CJK.search(line):
            continue
        if not all(_data(w.rstrip(".:"), known | extra) for w in WORD.findall(line)):
            bad.append(line)
    return bad


def reads(db: Path) -> list[list[str]]:
    lots = ["LOT-X", "Q-S01", "A-S01", "BOX-1"]
    commands = [["status"], ["status", "Q-S01"], ["status", "--verified", "--workers", "1"],
                ["status", "--at", "20"], ["presence"], ["presence", "--room", "SR-3"],
                ["presence", "--violations"], ["presence", "--person", "POL-01"],
                ["replay"], ["replay", "--room", "SR-3"], ["timeline", "room", "SR-3"],
                ["timeline", "person", "POL-02"], ["timeline", "person", "STF-01"],
                ["verify", "--workers", "1"], ["projections", "status"]]
    commands += [["history", lot] for lot in lots] + [["replay", "--lot", lot] for lot in lots]
    return commands


def test_every_line_of_every_read_command_is_chinese(day):
    known = recorded_words(day)
    extra = {str(day), day.name, "custody"}
    failures = {}
    for command in reads(day):
        result = CliRunner().invoke(main, ["--db", str(day), "--lang", "zh", *command])
        assert result.exit_code in (0, 1), (command, result.output)
        bad = untranslated(result.output.splitlines(), known, extra)
        if bad:
            failures[" ".join(command)] = bad[:3]
    assert not failures, failures


def test_projections_status_speaks_chinese(day):
    result = CliRunner().invoke(main, ["--db", str(day), "--lang", "zh", "projections",
                                       "status"])
    assert result.output.startswith("视图位于日志位置 ")


def test_an_error_not_yet_in_the_catalog_is_one_english_line_not_mixed(day):
    """An error line used to put 错误： before English text; one whose text the catalog has
    is all Chinese, one whose text it lacks is all English."""
    runner = CliRunner()
    english = runner.invoke(main, ["--db", str(day), "--lang", "zh", "verify", "--since",
                                   "999"])
    assert english.exit_code == 2
    assert english.stderr.startswith("error: --since 999 is past the end of the log")
    chinese = runner.invoke(main, ["--db", str(day), "--lang", "zh", "history", "NOPE"])
    assert chinese.stderr.startswith("错误：未知的试卷袋 NOPE；")
