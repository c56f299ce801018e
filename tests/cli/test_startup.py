"""Start-up: `custody --version`, `custody --help`, completing a command's name and `status LOT`
on a current view import none of the heavy libraries, so every officer command, every
`--help` and every completion starts at about click's own cost (timings: bench/bench_startup.py).

The root group lists every command without importing it: each command's short help is kept
in ``cli.main.COMMANDS``, checked here against the command's own."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest

import ledger
from cli.group import LazyGroup
from cli.main import COMMANDS, main
from ledger.application.custody import open_ledger
from tests.conftest import TEAM, fixed_key

HEAVY = ("cryptography", "eventsourcing", "jsonschema", "fastjsonschema", "jinja2", "babel",
         "nacl", "msgpack", "psycopg", "referencing")

# Runs the CLI in a fresh interpreter, then lists every module it imported.
_PROBE = textwrap.dedent("""
    import json, sys
    from cli.main import main
    try:
        main(sys.argv[2:], prog_name="custody")
    except SystemExit:
        pass
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
""")


def modules_of(tmp_path: Path, *args: str, env: dict[str, str] | None = None
               ) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module ``custody ARGS`` imported, and the finished process."""
    listing = tmp_path / "modules.json"
    run = subprocess.run([sys.executable, "-c", _PROBE, str(listing), *args], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=120)
    return set(json.loads(listing.read_text())), run


def imports_of(tmp_path: Path, *args: str, env: dict[str, str] | None = None
               ) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The heavy libraries ``custody ARGS`` imported, and the finished process."""
    modules, run = modules_of(tmp_path, *args, env=env)
    return {m.split(".")[0] for m in modules} & set(HEAVY), run


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_heavy_library(tmp_path, args):
    heavy, run = imports_of(tmp_path, *args)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert heavy == set(), f"custody {' '.join(args)} imported {sorted(heavy)}"


def test_root_help_lists_every_command(tmp_path):
    _, run = imports_of(tmp_path, "--help")
    listed = run.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    assert [line.split()[0] for line in listed.splitlines()] == sorted(COMMANDS)


def test_completing_a_command_name_imports_no_heavy_library(tmp_path):
    import os

    env = {**os.environ, "_CUSTODY_COMPLETE": "bash_complete", "COMP_WORDS": "custody sta",
           "COMP_CWORD": "1"}
    heavy, run = imports_of(tmp_path, env=env)
    assert run.stdout.split() == ["plain,status"]
    assert heavy == set(), f"completion imported {sorted(heavy)}"


def test_status_of_a_lot_on_a_current_view_imports_no_heavy_library(tmp_path, ready):
    heavy, run = imports_of(tmp_path, "--db", str(ready.db), "status", "LOT-1")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("LOT-1 ") and "held by STF-01" in run.stdout
    assert heavy == set(), f"status LOT imported {sorted(heavy)}"


def test_recording_a_valid_step_compiles_no_schema(tmp_path, ready):
    """Every valid body a recording command reads and writes — the genesis, the signers'
    enrolments, the step itself — is checked by its type's Struct, so neither jsonschema nor
    fastjsonschema is loaded (they cost such a command ~60 ms of its start-up)."""
    heavy, run = imports_of(tmp_path, "--db", str(ready.db), *ready.handover_args())
    assert run.returncode == 0, run.stderr
    assert "recorded lot.handed_over" in run.stdout
    assert heavy & {"jsonschema", "fastjsonschema", "referencing"} == set(), sorted(heavy)


def test_recording_without_a_log_key_or_receipt_leaves_the_log_and_verifier_unloaded(
        tmp_path, ready):
    """With no CUSTODY_LOG_KEY and no --receipt the append hook has nothing to do, so a
    recording command imports neither the transparency log's commands nor the verifier
    (with its process pool): they cost such a command ~25 ms of its start-up."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "CUSTODY_LOG_KEY"}
    modules, run = modules_of(tmp_path, "--db", str(ready.db), *ready.handover_args(), env=env)
    assert run.returncode == 0, run.stderr
    assert "recorded lot.handed_over" in run.stdout
    unloaded = {"cli.log", "ledger.application.log", "ledger.verify", "ledger.tlog.checkpoint",
                "multiprocessing", "concurrent.futures", "ledger.projections.timeline"}
    assert modules & unloaded == set(), sorted(modules & unloaded)


@pytest.mark.parametrize("args, printed", [
    (["history", "LOT-1"], "  2  2026-06-06T06:10:00+08:00  lot.handed_over"),
    (["verify", "--workers", "1"], "intact: "),
])
def test_reading_the_log_loads_no_private_key_library(tmp_path, ready, args, printed):
    """`history` and `verify` read events and their signatures from the log: public keys and
    signature checks are libsodium's, so cryptography, which only private keys need (making,
    loading, signing), stays unloaded (docs/cli.md, "Start-up")."""
    ready.ok(*ready.handover_args())
    heavy, run = imports_of(tmp_path, "--db", str(ready.db), *args)
    assert run.returncode == 0, run.stderr
    assert printed in run.stdout, run.stdout
    assert "nacl" in heavy and "cryptography" not in heavy, sorted(heavy)


def test_a_step_group_builds_only_the_command_asked_for():
    from cli.recording import StepGroup
    from cli.steps import STEPS

    group = StepGroup("record")
    group.steps.update({step.name: step for step in STEPS})
    assert group.list_commands(click.Context(group)) == sorted(step.name for step in STEPS)
    assert group.commands == {}
    command = group.get_command(click.Context(group), "handover")
    assert command is not None and command.name == "handover"
    assert list(group.commands) == ["handover"]
    assert group.get_command(click.Context(group), "no-such-step") is None


def test_status_on_a_view_behind_the_log_answers_at_the_log_head(ready):
    """A step appended by another program (through the API, no view update) leaves the view
    behind: status must not answer from it as it stands."""
    before = ready.ok("status", "LOT-1").output
    app = open_ledger(str(ready.db))
    signers = _signers(TEAM)
    receipt = app.record_handover("LOT-1", "STF-01", "STF-02", "Secure room 1",
                                  ["SEAL-1", "SEAL-2"], 30, HANDED_OVER, signers)
    app.close()
    after = ready.ok("status", "LOT-1").output
    assert "held by STF-01" in before
    assert "held by STF-02" in after
    assert f"as of log position {receipt.position}," in after


HANDED_OVER = datetime(2026, 6, 6, 6, 10, tzinfo=timezone(timedelta(hours=8)))


def _signers(people):
    from ledger.application.keystore import Signer

    return [Signer(p, fixed_key(p)) for p in people]


def test_version_is_the_package_version(tmp_path):
    _, run = imports_of(tmp_path, "--version")
    assert run.stdout == f"custody, version {ledger.__version__}\n"
    assert ledger.__version__ == importlib.metadata.version("custody-ledger")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_is_listed_with_its_own_short_help(name):
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert COMMANDS[name][1] == command.get_short_help_str(limit=10_000)


def test_every_command_a_module_adds_is_in_the_table():
    by_target: dict[str, set[str]] = {}
    for name, (target, _) in COMMANDS.items():
        by_target.setdefault(target, set()).add(name)
    for target, names in by_target.items():
        module, attribute = target.split(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, click.Command):
            assert {found.name} == names, target
        else:
            group = click.Group()
            found(group)
            assert set(group.commands) == names, target


def test_the_lazy_listing_is_what_click_lists_from_the_commands_themselves():
    lazy = LazyGroup("custody", lazy=COMMANDS)
    eager = click.Group("custody", commands={
        name: main.get_command(click.Context(main), name) for name in COMMANDS})
    assert _listing(lazy) == _listing(eager)
    assert lazy.commands == {}  # listing imported nothing


def _listing(group: click.Group) -> str:
    formatter = click.HelpFormatter(width=100)
    group.format_commands(click.Context(group), formatter)
    return formatter.getvalue()
