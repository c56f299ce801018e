"""The root group's options (--db, --lang, and any other it has) work after the subcommand as
well as before it: `custody status --db x.db` used to fail with "No such option: --db"."""

from __future__ import annotations

import click
from click.testing import CliRunner

from cli.group import RootGroup
from cli.main import main
from ledger.application.keystore import write_key_pair
from tests.conftest import fixed_key


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="custody")


def test_status_db_after_the_subcommand_reads_that_ledger(ready):
    before = invoke("--db", str(ready.db), "status")
    after = invoke("status", "--db", str(ready.db))
    assert after.exit_code == 0, after.output
    assert after.output == before.output and "LOT-1" in after.output


def test_status_lang_and_db_after_the_subcommand_in_either_form(ready):
    result = invoke("status", "LOT-1", f"--db={ready.db}", "--lang=zh")
    assert result.exit_code == 0, result.output
    assert "保管人 STF-01" in result.output


def test_person_enrol_db_after_the_subcommand_writes_that_ledger(ready, tmp_path):
    key = tmp_path / "stf07.key"
    write_key_pair(key, "STF-07", fixed_key("STF-07"), None)
    enrol = ["person", "enrol", "STF-07", "--name", "Ma Lin", "--role", "staff", "--unit",
             "Unit", "--public-key", f"{key}.pub", *ready.authority(),
             "--occurred-at", "2026-06-01T10:00:00+08:00", "--db", str(ready.db)]
    result = invoke(*enrol)
    assert result.exit_code == 0, result.output
    assert "recorded person.enrolled person:STF-07 step 1" in result.output
    again = ready(*enrol[:-2])  # the same ledger, named before the subcommand
    assert again.exit_code == 2 and "person STF-07 is already enrolled" in again.output


def test_log_subcommand_speaks_the_lang_given_after_it(ready, log_key):
    result = invoke("log", "enable", "--log-key", f"{log_key}.pub", *ready.authority(),
                    "--lang", "zh", "--db", str(ready.db))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("已记录")


def test_a_refusal_after_a_late_lang_is_in_that_language(ready):
    result = invoke("history", "LOT-404", "--lang", "zh", "--db", str(ready.db))
    assert result.exit_code == 2
    assert result.output.startswith("错误：")


def test_help_after_the_subcommand_is_still_the_subcommands_help(ready):
    result = invoke("status", "--db", str(ready.db), "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: custody status [OPTIONS] [LOT_ID]")


def _group_with_a_db_of_its_own() -> click.Group:
    @click.group(cls=RootGroup)
    @click.option("--db")
    @click.pass_context
    def root(ctx: click.Context, db: str | None) -> None:
        ctx.obj = {"root db": db}

    @root.command()
    @click.option("--db", "own")
    @click.argument("rest", nargs=-1)
    @click.pass_context
    def sub(ctx: click.Context, own: str | None, rest: tuple[str, ...]) -> None:
        click.echo(f"root={ctx.obj['root db']} own={own} rest={list(rest)}")

    return root


def test_an_option_the_subcommand_has_itself_stays_the_subcommands():
    result = CliRunner().invoke(_group_with_a_db_of_its_own(), ["sub", "--db", "mine"])
    assert result.output == "root=None own=mine rest=[]\n"


def test_nothing_after_a_double_dash_moves():
    result = CliRunner().invoke(_group_with_a_db_of_its_own(),
                                ["--db", "x", "sub", "--", "--db", "y"])
    assert result.output == "root=x own=None rest=['--db', 'y']\n"


def test_root_options_first_moves_only_root_options_with_their_values():
    moved = main.root_options_first(click.Context(main), [
        "record", "handover", "--lot", "L-1", "--db", "x.db", "--note", "--lang",
        "--lang", "zh", "--json"])
    # "--lang" right after --note is the note's text, not the root option.
    assert moved == ["--db", "x.db", "--lang", "zh", "record", "handover", "--lot", "L-1",
                     "--note", "--lang", "--json"]
