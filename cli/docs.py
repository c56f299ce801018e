"""``docs/commands.md``: every command's ``--help``, examples included, made from the commands
themselves so that the page cannot drift from them.

    python -m cli.docs > docs/commands.md

``tests/docs/test_commands_page.py`` regenerates the page and fails when the committed one
differs, and checks that every example in every ``--help`` names options its command has.
"""

from __future__ import annotations

import sys
from typing import Iterator

import click

from cli import i18n

WIDTH = 100  # the project's longest line
INTRO = """\
# Commands

Every `custody` command with its `--help`, examples included, in the order `custody --help`
lists them. This page is generated from the commands themselves
(`python -m cli.docs > docs/commands.md`) and a test fails when the two disagree, so it is
what `--help` says today. Options of the root group (`--db`, `--lang`) may be given before or
after the subcommand.
"""


def commands(root: click.Group) -> Iterator[tuple[list[str], click.Command, click.Context]]:
    """Every command under ``root`` (``root`` first), each with its path and context."""
    def walk(command: click.Command, path: list[str], ctx: click.Context
             ) -> Iterator[tuple[list[str], click.Command, click.Context]]:
        yield path, command, ctx
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, [*path, name], click.Context(
                        sub, info_name=name, parent=ctx, terminal_width=WIDTH,
                        max_content_width=WIDTH))

    top = click.Context(root, info_name="custody", terminal_width=WIDTH,
                        max_content_width=WIDTH)
    yield from walk(root, ["custody"], top)


def _anchor(path: list[str]) -> str:
    return "-".join(path)


def page(root: click.Group) -> str:
    """The whole of ``docs/commands.md``."""
    i18n.use("en")  # the page is the English --help, whatever the locale
    entries = list(commands(root))
    parts = [INTRO, ""]
    parts += [f"- [{' '.join(path)}](#{_anchor(path)})" for path, _, _ in entries]
    for path, command, ctx in entries:
        text = command.get_help(ctx).rstrip()
        parts += ["", f"## {' '.join(path)}", "", "```text", text, "```"]
    return "\n".join(parts) + "\n"


def main() -> None:
    from cli.main import main as custody

    sys.stdout.write(page(custody))


if __name__ == "__main__":
    main()
