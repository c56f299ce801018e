"""docs/commands.md is every command's --help, regenerated here and compared, so it never
drifts; and every example a --help shows is a command line its command accepts (every option
exists, every required one is there, every value parses)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click
import pytest

from cli.docs import commands, page
from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/commands.md"
FILE = re.compile(r"[\w.~/-]+\.(key|pub|draft|proof|txt|json|bundle|html)")
SHA256 = "ab" * 32


def test_the_page_is_what_the_commands_say():
    assert PAGE.read_text(encoding="utf-8") == page(main), (
        "docs/commands.md is stale: run python -m cli.docs > docs/commands.md")


def test_every_command_shows_an_example():
    missing = [" ".join(path) for path, command, _ in commands(main)
               if not isinstance(command, click.Group) and "Example" not in (command.epilog or "")]
    assert not missing


def examples(help_text: str) -> list[str]:
    """The command lines a --help shows, continuation lines joined."""
    found, current = [], None
    for line in help_text.splitlines():
        text = re.sub(r"^Examples?( \([^)]*\))?:\s*", "", line.strip())
        if current is not None:
            current += " " + text.rstrip("\\").strip()
            if not text.endswith("\\"):
                found.append(current)
                current = None
        elif text.startswith("custody "):
            if text.endswith("\\"):
                current = text.rstrip("\\").strip()
            else:
                found.append(text)
    return found


def argv(example: str) -> list[str]:
    """An example as arguments: its comment, output redirection, "..." and remarks in
    parentheses left out, placeholders filled in."""
    example = re.split(r"\s#\s", example)[0].split(" > ")[0]
    example = re.sub(r"\s\([^)]*\)", "", example).replace("<sha256>", SHA256)
    return [arg for arg in shlex.split(example)[1:] if arg != "..."]


def parse(args: list[str]) -> click.Command:
    ctx = main.make_context("custody", list(args))
    command: click.Command = main
    while isinstance(command, click.Group):
        rest = [*ctx._protected_args, *ctx.args]  # noqa: SLF001 - what the group left
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return command


ALL = [(" ".join(path), example) for path, command, ctx in commands(main)
       for example in examples(command.get_help(ctx))]


def test_the_examples_were_found():
    assert len(ALL) > 80 and len({path for path, _ in ALL}) > 60


@pytest.mark.parametrize("path, example", ALL)
def test_every_example_is_a_command_line_its_command_accepts(path, example, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = argv(example)
    for arg in args:  # the files an example names exist, as they would where it is run
        if FILE.fullmatch(arg) and not arg.startswith("~"):
            Path(arg).parent.mkdir(parents=True, exist_ok=True)
            Path(arg).touch()
    for option, arg in zip(args, args[1:]):  # and the folders it serves or reads
        if option == "--dir" and not arg.startswith("~"):
            Path(arg).mkdir(parents=True, exist_ok=True)
    try:
        parse(args)
    except click.UsageError as error:
        pytest.fail(f"{example!r} (in the help of {path}): {error.format_message()}")
    assert os.getcwd() == str(tmp_path)
