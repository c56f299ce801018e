"""The root group's machinery: subcommands imported only when they run, and the root's own
options (``--db``, ``--lang`` ...) accepted after the subcommand as well as before it.

Nothing here imports the ledger: ``custody --version``, ``custody --help`` and shell
completion of a command's name cost Python and click only (``tests/cli/test_startup.py``).
"""

from __future__ import annotations

import importlib
# click words its own headings with gettext too; named apart so Babel does not take
# "Commands" for one of ours.
from gettext import gettext as click_words
from typing import Any, Mapping, Sequence

import click
from click.shell_completion import CompletionItem


class LazyGroup(click.Group):
    """A group whose subcommands are imported when one is run or asked for (click's
    documented lazy-loading pattern).

    ``lazy`` maps each name to ``("module:attribute", short help)``. The attribute is the
    command, or a function that adds commands to the group (``register(group)``). The short
    help is the command's own, kept here so that the group's ``--help`` and completion list
    every command without importing any (a test checks that the two agree)."""

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.load(cmd_name)
        return self.commands.get(cmd_name)

    def load(self, name: str) -> click.Command | None:
        """Import the module of command ``name`` and add its command(s) to the group."""
        module, attribute = self.lazy[name][0].split(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, click.Command):
            self.add_command(found, name)
        else:
            found(self)  # a module that adds several commands at once (cli.log, cli.witness)
        return self.commands.get(name)

    def listed_help(self, name: str, limit: int = 45) -> str:
        """The short help of ``name`` as the group lists it, without importing it."""
        command = self.commands.get(name)
        if command is None:  # a stand-in with the command's own first sentence
            command = click.Command(name, help=self.lazy[name][1])
        return command.get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = [n for n in self.list_commands(ctx)
                 if not (n in self.commands and self.commands[n].hidden)]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click's own
        with formatter.section(click_words("Commands")):
            formatter.write_dl([(name, self.listed_help(name, limit)) for name in names])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        # click's own would import every command to ask for its short help.
        if incomplete.startswith("-"):
            return super().shell_complete(ctx, incomplete)
        return [CompletionItem(name, help=self.listed_help(name))
                for name in self.list_commands(ctx) if name.startswith(incomplete)]


class RootGroup(LazyGroup):
    """The root group: its options may come after the subcommand too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = self.root_options_first(ctx, args)
        return super().parse_args(ctx, args)

    def root_options_first(self, ctx: click.Context, args: Sequence[str]) -> list[str]:
        """``args`` with every option of this group that comes after the subcommand moved,
        with its value, in front of the subcommand: ``custody status --db x.db`` reads as
        ``custody --db x.db status``. Any option of the group counts (``--db``, ``--lang``,
        ``--tz`` ...). An option the subcommand defines under the same name is its own and
        stays; nothing after ``--`` moves. The subcommands named are loaded to tell their
        options from the group's (they are about to run anyway)."""
        mine = _options(self)
        index = 0
        while index < len(args) and args[index].startswith("-") and args[index] != "--":
            index += 1 + _values_after(mine.get(args[index].split("=", 1)[0]), args[index])
        if index >= len(args) or args[index] == "--":
            return list(args)
        moved: list[str] = []
        rest: list[str] = []
        command: click.Command = self
        position = index
        while position < len(args):
            token = args[position]
            if token == "--":
                rest += args[position:]
                break
            if token.startswith("-") and token != "-":
                name = token.split("=", 1)[0]
                own = _options(command).get(name) if command is not self else None
                param = own or mine.get(name)
                span = list(args[position:position + 1 + _values_after(param, token)])
                (moved if own is None and name in mine else rest).extend(span)
                position += len(span)
                continue
            if isinstance(command, click.Group):  # the name of the next subcommand
                command = command.get_command(ctx, token) or command
            rest.append(token)
            position += 1
        return [*args[:index], *moved, *rest]


def _options(command: click.Command) -> dict[str, click.Option]:
    return {name: param for param in command.params if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts)}


def _values_after(param: click.Option | None, token: str) -> int:
    """How many of the following arguments are the option's value(s)."""
    if param is None or "=" in token or param.is_flag or param.count:
        return 0
    return max(param.nargs, 1)
