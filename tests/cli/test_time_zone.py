"""Times as the officer lives them: one printed form, RFC 3339 with seconds and an offset, in
the ledger's time zone (named in its genesis; --tz / CUSTODY_TZ override it); JSON keeps the
stored UTC times."""

from __future__ import annotations

import json
import re

from cli.main import main
from tests.conftest import PEOPLE, TEAM

# Any other spelling of a time than the one printed form: the stored canonical one, a "Z",
# a fraction of a second.
STORED_FORM = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z|\d{2}:\d{2}:\d{2}\.\d+")
MORNING = "2026-06-06T06:10:00+08:00"  # the exam morning, in Beijing


def a_morning(cli, *init: str) -> None:
    """A ledger whose genesis names ``init``'s zone, a lot, and a handover at 06:10 Beijing
    time that is short of staff (acknowledged), so verify has a finding with times in it."""
    cli.ok("init", "--ledger-id", "tz-ledger", *init, *cli.authority())
    for person_id, role in PEOPLE.items():
        cli.ok("person", "enrol", person_id, "--name", person_id, "--role", role, "--unit", "U",
               "--public-key", cli.key(person_id) + ".pub",
               "--occurred-at", "2026-06-01T09:30:00+08:00", *cli.authority())
    cli.register()
    cli.ok(*cli.handover_args(**{"--occurred-at": MORNING, "--acknowledge-violation": "late"},
                              team=TEAM[:5]))


def outputs(cli, *prefix: str) -> dict[str, str]:
    commands = {"history": ["history", "LOT-1"], "status": ["status"],
                "presence": ["presence", "--lot", "LOT-1"], "replay": ["replay", "--lot", "LOT-1"],
                "timeline": ["timeline", "person", "STF-01"], "verify": ["verify"]}
    return {name: cli.runner.invoke(main, [*prefix, "--db", str(cli.db), *args]).output
            for name, args in commands.items()}


def test_every_text_output_shows_times_in_the_zone_the_genesis_names(cli) -> None:
    a_morning(cli, "--time-zone", "Asia/Shanghai", "--occurred-at", "2026-06-01T01:00:00Z")
    shown = outputs(cli)
    for name, text in shown.items():
        assert not STORED_FORM.search(text), (name, text)
    assert "2026-06-06T06:10:00+08:00" in shown["history"]
    assert "2026-06-05T22:10:00" not in shown["history"]  # not the evening before
    assert "2026-06-06T06:10:00+08:00" in shown["status"]
    assert "2026-06-06T06:10:00+08:00" in shown["presence"]
    assert "2026-06-06T06:10:00+08:00" in shown["replay"]
    assert "2026-06-06T06:10:00+08:00" in shown["timeline"]
    # JSON keeps what the ledger stores: UTC, canonical.
    data = json.loads(cli.ok("status", "--json").stdout)
    assert data["lots"][0]["occurred_at"] == "2026-06-05T22:10:00.000000Z"


def test_tz_and_custody_tz_choose_another_zone_for_one_command(cli) -> None:
    a_morning(cli, "--time-zone", "Asia/Shanghai")
    tokyo = cli.runner.invoke(main, ["--tz", "Asia/Tokyo", "--db", str(cli.db), "history",
                                     "LOT-1"]).output
    utc = cli.runner.invoke(main, ["--db", str(cli.db), "history", "LOT-1"],
                            env={"CUSTODY_TZ": "+00:00"}).output
    assert "2026-06-06T07:10:00+09:00" in tokyo
    assert "2026-06-05T22:10:00+00:00" in utc


def test_without_a_time_zone_the_genesis_takes_the_offset_it_was_typed_with(cli) -> None:
    a_morning(cli, "--occurred-at", "2026-06-01T09:00:00-03:00")
    assert "2026-06-05T19:10:00-03:00" in cli.ok("history", "LOT-1").output


def test_an_unknown_time_zone_is_one_error_line_and_writes_nothing(cli) -> None:
    before = cli.db_digest()
    refused = cli("init", "--ledger-id", "tz-ledger", "--time-zone", "Mars/Olympus_Mons",
                  *cli.authority())
    assert refused.exit_code == 2
    assert refused.output.splitlines()[-1].startswith("error: --time-zone 'Mars/Olympus_Mons'")
    assert cli.db_digest() == before
    for args in (["--tz", "+15:00", "--db", str(cli.db), "status"],
                 ["--tz", "Nowhere", "--db", str(cli.db), "status"]):
        result = cli.runner.invoke(main, args)
        assert result.exit_code == 2
        assert [line for line in result.output.splitlines() if line.startswith("error: --tz")]


def test_the_report_shows_local_times(cli, tmp_path) -> None:
    a_morning(cli, "--time-zone", "Asia/Shanghai")
    out = tmp_path / "report.html"
    cli.ok("report", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "2026-06-06T06:10:00+08:00" in html.replace("<wbr>", "")
    assert not STORED_FORM.search(re.sub(r"<[^>]+>", " ", html.replace("<wbr>", "")))


def test_a_genesis_naming_no_time_zone_shows_utc(tmp_path) -> None:
    """A genesis of schema 1 (every ledger from before time zones) names none: UTC."""
    from click.testing import CliRunner

    from tests.conftest import build_world

    world = build_world(tmp_path / "custody.db")
    world.register()
    genesis = world.app.events_at([(1, "ledger", None)])[0].body
    world.app.close()
    assert genesis["schema"] == 1 and "time_zone" not in genesis
    shown = CliRunner().invoke(main, ["--db", str(world.db), "history", "LOT-1"]).output
    assert "2026-06-06T05:00:11+00:00" in shown and not STORED_FORM.search(shown)


def test_a_stored_time_is_shown_in_the_zone_each_command_chose() -> None:
    """Shown times are remembered (a listing repeats them), but never across zones: the same
    stored time reads differently once another command chooses another zone."""
    from cli import times

    stored = "2026-06-07T06:05:00.000000Z"
    shown = []
    for zone in ("Asia/Shanghai", "+05:30", "Asia/Shanghai", "UTC"):
        times.choose(zone)
        shown.append(times.local(stored))
    times.choose(None)
    assert shown == ["2026-06-07T14:05:00+08:00", "2026-06-07T11:35:00+05:30",
                     "2026-06-07T14:05:00+08:00", "2026-06-07T06:05:00+00:00"]
    assert times.local("not a stored time") == "not a stored time"
