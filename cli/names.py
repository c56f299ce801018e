"""Options and arguments that name something already in the ledger: a lot, an exam, a secure
room, a person, a holder. Each is declared with a ``Named`` type; ``require_named`` checks
every one a command was given, once, against the ledger the command opened (its view, or
its log), before any key is unlocked: an id that names nothing is a usage error naming the
closest ids (``ledger.core.names``), never an empty answer or a second registration."""

from __future__ import annotations

from typing import Any, Callable

import click

from cli.options import Checked
from ledger.core.names import Names, require_known

_CHECKED = "custody.names_checked"


class Named(Checked):
    """An id (or party) checked like any other, that must also name a ``kind`` of thing the
    ledger holds."""

    def __init__(self, names: str, definition: str = "id", metavar: str = "ID") -> None:
        super().__init__(definition, metavar)
        self.names = names  # lot, exam, room, person or holder (``ledger.core.names.KINDS``)


LOT = Named("lot")
EXAM = Named("exam")
ROOM = Named("room")
PERSON = Named("person")
HOLDER = Named("holder", "party", "PARTY")


def require_named(ctx: click.Context, names: Callable[[], Names]) -> None:
    """Check every ``Named`` option and argument of ``ctx``'s command against the ids
    ``names()`` gives (called only if the command was given one), once per command: the
    first ledger or view the command opens answers."""
    if ctx.meta.get(_CHECKED):
        return
    ctx.meta[_CHECKED] = True
    given = [(param, name) for param in ctx.command.params if isinstance(param.type, Named)
             for name in _values(ctx.params.get(param.name or ""))]
    if not given:
        return
    known = names()
    for param, name in given:
        assert isinstance(param.type, Named)
        require_known(known, param.type.names, name, _where(param))


def _values(value: Any) -> list[Any]:
    values = value if isinstance(value, (tuple, list)) else [value]
    return [v for v in values if v is not None]


def _where(param: click.Parameter) -> str | None:
    """The option to name in the message, where the option does not already say the kind
    (``--to`` does, ``--lot`` does not)."""
    if not isinstance(param, click.Option):
        return None
    option = max(param.opts, key=len)
    kind = param.type.names if isinstance(param.type, Named) else None
    return None if option.lstrip("-") == kind else option
