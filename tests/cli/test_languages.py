"""--lang zh|en: the status, verify and error output people read, in Chinese and in English;
finding codes and JSON stay English. The language comes from --lang, else CUSTODY_LANG, else
the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from cli.i18n import language_from_locale
from tests.cli.test_subprocess import CUSTODY
from tests.conftest import TEAM

# No locale variable and no CUSTODY_LANG: what the option falls back to is the test's own.
NO_LOCALE = {"CUSTODY_LANG": None, "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None,
             "LANG": None}


def invoke(cli, *args, env=None):
    return cli.runner.invoke(cli_main(), ["--db", str(cli.db), *args], env=env)


def cli_main():
    from cli.main import main

    return main


def handover(ready, *extra, team=TEAM):
    return ready.handover_args(team=team) + list(extra)


# -- status --------------------------------------------------------------------------------


def test_status_in_chinese_names_kind_step_and_holder_in_chinese(ready):
    ready.ok(*handover(ready))
    result = ready("--lang", "zh", "status")
    assert result.exit_code == 0, result.output
    lot_line, summary = result.output.splitlines()
    assert lot_line.startswith("LOT-1            试卷  ")
    assert "保管人 STF-02；最近一步 交接，于 Secure room 1，2026-06-06T06:10:00+08:00" in lot_line
    assert lot_line.endswith("— 无发现")
    assert summary.startswith("1 个试卷袋，截至日志位置 ")
    assert "记录中没有错误" in summary


def test_status_in_english_is_unchanged(ready):
    ready.ok(*handover(ready))
    english, default = ready("--lang", "en", "status"), ready("status")
    assert english.output == default.output
    assert "held by STF-02; last lot.handed_over at Secure room 1" in english.output
    assert "1 lot(s) as of log position" in english.output


def test_status_verified_in_chinese(ready):
    result = ready("--lang", "zh", "status", "--verified", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 个试卷袋；账本完整"
    assert "保管人 STF-01；最近一步 登记，于 Printing house" in result.output


# -- verify --------------------------------------------------------------------------------


def test_verify_intact_in_chinese(ready):
    result = ready("--lang", "zh", "verify", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"完整：{ready.db}：已验证 ")
    assert "个事件，" in result.output and "个签名" in result.output


def test_verify_with_a_finding_in_chinese_keeps_the_code_english(ready):
    # Five of the six people the policy needs, the shortfall acknowledged: a warning whose
    # text nests the presence verdict (required roles, who was counted, how many missing).
    ready.ok(*handover(ready, "--acknowledge-violation", "one officer ill", team=TEAM[:-1]))
    result = ready("--lang", "zh", "verify", "--workers", "1")
    assert result.exit_code == 0, result.output
    finding = next(line for line in result.output.splitlines() if "ACKNOWLEDGED_VIOLATION" in line)
    assert finding.startswith("警告    ACKNOWLEDGED_VIOLATION ")
    # The event type stays as stored: it names the step exactly, like the code.
    assert finding.endswith("PRESENCE_SHORT 已在记录中确认（one officer ill）：lot.handed_over："
                            "需要 4 名 工作人员，实有 3（STF-01, STF-02, STF-03）：缺 1")
    assert result.output.splitlines()[-1].startswith(f"完整（有警告）：{ready.db}：已检查 ")


def test_verify_error_finding_in_chinese_and_english(ready):
    with sqlite3.connect(ready.db) as conn:
        conn.execute("UPDATE stored_events SET state = CAST(state || x'00' AS BLOB) "
                     "WHERE rowid = 12")
    zh = ready("--lang", "zh", "verify", "--workers", "1")
    en = ready("--lang", "en", "verify", "--workers", "1")
    assert zh.exit_code == en.exit_code == 1
    zh_line = next(line for line in zh.output.splitlines() if "NON_CANONICAL" in line)
    en_line = next(line for line in en.output.splitlines() if "NON_CANONICAL" in line)
    assert zh_line.startswith("错误    NON_CANONICAL          位置 12 lot:LOT-1: lot:LOT-1 第 1 "
                              "步存储的字节不规范：")
    assert en_line.startswith("ERROR   NON_CANONICAL          position 12 lot:LOT-1: stored bytes "
                              "of lot:LOT-1 step 1 are not canonical: ")
    # The changed bytes no longer hash to the stored tree's leaf: the second error.
    assert any("ROOT_MISMATCH" in line for line in zh.output.splitlines())
    assert zh.output.splitlines()[-1].startswith(f"不完整：2 个错误：{ready.db}：已检查 ")


def test_verify_json_stays_english_under_lang_zh(ready):
    ready.ok(*handover(ready, "--count", "29", "--acknowledge-violation", "recount"))
    zh = json.loads(ready("--lang", "zh", "verify", "--json", "--workers", "1").output)
    en = json.loads(ready("--lang", "en", "verify", "--json", "--workers", "1").output)
    assert zh == en
    assert zh["findings"][0]["code"] == "ACKNOWLEDGED_VIOLATION"
    assert zh["findings"][0]["message"] == ("COUNT_MISMATCH acknowledged on record (recount): "
                                            "count checked 29, but 30 on record")


def test_receipt_warning_in_chinese(ready):
    result = ready("--lang", "zh", *handover(ready, "--count", "29",
                                             "--acknowledge-violation", "recount"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("已记录 交接 lot:LOT-1 第 2 步，位置 ") for line in lines)
    assert ("警告：ACKNOWLEDGED_VIOLATION：COUNT_MISMATCH 已在记录中确认（recount）："
            "清点数量 29，但记录为 30；已按您的确认记录；每次验证都会永久标记") in lines


def test_history_in_chinese(ready):
    result = ready("--lang", "zh", "history", "LOT-1")
    assert result.exit_code == 0, result.output
    assert "登记" in result.output and "于 Printing house" in result.output
    assert "在场：POL-01 (公安), POL-02 (公安), STF-01 (工作人员)" in result.output
    assert "在场：符合（" in result.output
    assert result.output.splitlines()[-1].startswith("1 步，截至日志位置 ")


def test_sign_shows_the_step_in_chinese_with_its_event_type_as_signed(ready, tmp_path):
    from tests.cli.test_lifecycle import HANDOVER, attendees

    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    result = ready("--lang", "zh", "sign", str(path), "--key", ready.key("POL-01"),
                   "--passphrase-file", ready.secret("POL-01"), input="n\n")
    lines = result.output.splitlines()
    assert lines[0] == "lot:LOT-1 的 lot.handed_over（账本 cli-ledger 第 2 步）"
    assert lines[1] == "  发生于 2026-06-06T06:10:00+08:00 于 Secure room 1"
    assert "  核对：数量 30, 封条 SEAL-1, SEAL-2" in lines
    assert any(line.startswith("  在场：POL-01 (公安), POL-02 (公安), STF-01 (工作人员)")
               for line in lines)


# -- errors --------------------------------------------------------------------------------


def test_error_line_in_chinese(ready):
    result = ready("--lang", "zh", "verify", "--lot", "LOT-9")
    assert result.exit_code == 2
    assert result.output.strip() == "错误：未知的试卷袋 LOT-9；您是指 LOT-1 吗？"


def test_refusal_in_chinese_lists_every_broken_rule(ready):
    before = ready.db_digest()
    result = ready("--lang", "zh", *handover(ready, "--count", "29", team=TEAM[:-1]))
    assert result.exit_code == 3
    assert result.output.strip() == (
        "错误：拒绝 lot:LOT-1 的 lot.handed_over：lot.handed_over：需要 4 名 工作人员，实有 3（STF-01, "
        "STF-02, STF-03）：缺 1；清点数量 29，但记录为 30 —— 未写入任何内容"
    )
    assert ready.db_digest() == before


def test_missing_ledger_error_in_chinese_and_english(cli):
    zh = cli("--lang", "zh", "status")
    en = cli("--lang", "en", "status")
    assert zh.exit_code == en.exit_code == 5
    assert zh.output.strip() == (f"错误：{cli.db} 处没有账本；请先运行 'custody init'，"
                                 "或用 --db / CUSTODY_DB 指定")
    assert en.output.strip() == (f"error: no ledger at {cli.db}; run 'custody init' first, "
                                 "or pass --db / set CUSTODY_DB")


# -- choosing the language -----------------------------------------------------------------


def test_unknown_language_is_a_usage_error(ready):
    result = ready("--lang", "fr", "status")
    assert result.exit_code == 2
    assert "Invalid value for '--lang': 'fr' is not one of 'en', 'zh'." in result.output
    env = {**NO_LOCALE, "CUSTODY_LANG": "fr"}
    assert invoke(ready, "status", env=env).exit_code == 2


def test_lang_zh_cn_locale_picks_chinese(ready):
    result = invoke(ready, "verify", "--workers", "1", env={**NO_LOCALE, "LANG": "zh_CN.UTF-8"})
    assert result.exit_code == 0 and result.output.startswith("完整：")


def test_custody_lang_and_lang_option_outrank_the_locale(ready):
    zh_locale = {**NO_LOCALE, "LANG": "zh_CN.UTF-8"}
    assert invoke(ready, "verify", "--workers", "1",
                  env={**zh_locale, "CUSTODY_LANG": "en"}).output.startswith("intact:")
    assert cli_option_wins(ready, zh_locale)


def cli_option_wins(ready, env):
    result = ready.runner.invoke(cli_main(), ["--lang", "en", "--db", str(ready.db), "verify",
                                              "--workers", "1"], env={**env, "CUSTODY_LANG": "zh"})
    return result.exit_code == 0 and result.output.startswith("intact:")


def test_a_non_chinese_locale_gives_english(ready):
    result = invoke(ready, "verify", "--workers", "1", env={**NO_LOCALE, "LANG": "fr_FR.UTF-8"})
    assert result.output.startswith("intact:")


@pytest.mark.parametrize("environ, expected", [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.Big5"}, "zh"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),  # LC_ALL outranks LANG
    ({"LC_MESSAGES": "zh_SG", "LANG": "en_GB.UTF-8"}, "zh"),
    ({"LANGUAGE": "zh_CN:en", "LC_ALL": "C"}, "zh"),  # LANGUAGE first, its first entry
    ({"LANGUAGE": "", "LANG": "zh_HK.UTF-8"}, "zh"),  # empty counts as unset
    ({"LANG": "zhx_XX"}, "en"),
])
def test_language_from_locale(environ, expected):
    assert language_from_locale(environ) == expected


def test_lang_zh_cn_in_a_real_subprocess(ready):
    env = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8"}
    result = subprocess.run([CUSTODY, "--db", str(ready.db), "verify", "--workers", "1"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and result.stdout.startswith("完整："), result.stderr
    missing = subprocess.run([sys.executable, "-m", "cli", "--db", str(ready.db) + ".none",
                              "status"], capture_output=True, text=True, timeout=120, env=env)
    assert missing.returncode == 5 and missing.stderr.startswith("错误：")


def test_replay_and_timeline_in_chinese(ready):
    # The view keeps each finding's template and values, so replay shows it in Chinese too.
    ready.ok(*handover(ready, "--count", "29", "--acknowledge-violation", "recount"))
    replay = ready("--lang", "zh", "replay", "--lot", "LOT-1")
    assert replay.exit_code == 0, replay.output
    lines = replay.output.splitlines()
    step = next(line for line in lines if "第 2 步" in line)
    assert "交接" in step and "在场 符合" in step and "ACKNOWLEDGED_VIOLATION" in step
    assert ("        警告 ACKNOWLEDGED_VIOLATION: COUNT_MISMATCH 已在记录中确认（recount）："
            "清点数量 29，但记录为 30") in lines
    assert "在场：POL-01 (公安)" in replay.output
    person = ready("--lang", "zh", "timeline", "person", "STF-02")
    assert person.exit_code == 0, person.output
    assert any("步骤: lot:LOT-1 的 交接" in line and "接收" in line
               for line in person.output.splitlines())
    english = ready("--lang", "en", "replay", "--lot", "LOT-1")
    assert ("        WARNING ACKNOWLEDGED_VIOLATION: COUNT_MISMATCH acknowledged on record "
            "(recount): count checked 29, but 30 on record") in english.output.splitlines()
