"""Text a person reads, kept translatable: ``Message`` is the English string, and remembers
the template and the values it was made from.

The core stays pure: it never looks up a locale. It builds each finding message as
``Message("{person} signed with key {key}, revoked earlier", person=..., key=...)``: a ``str``
equal to the formatted English text (so JSON, tests and every caller see plain English),
whose ``template`` and ``args`` let ``cli/`` show it in the reader's language
(``cli.i18n.translated``). Babel extracts the templates with the keyword ``Message``.
"""

from __future__ import annotations

from typing import Any, Sequence


class Message(str):
    """The English text of ``template`` formatted with ``args``, carrying both.

    An argument may itself be a ``Message`` (a verdict inside a finding): it is translated
    with its parent."""

    template: str
    args: dict[str, Any]

    def __new__(cls, template: str, /, **args: Any) -> "Message":
        self = super().__new__(cls, template.format(**args))
        self.template = template
        self.args = args
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Findings cross process boundaries and spill files pickled: keep template and args.
        return (_rebuilt, (self.template, self.args))


def _rebuilt(template: str, args: dict[str, Any]) -> Message:
    return Message(template, **args)


def joined(parts: Sequence[str]) -> str:
    """``parts`` joined with "; ", translatable when they are Messages ("" for none)."""
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return Message("{first}; {rest}", first=parts[0], rest=joined(parts[1:]))


def either(words: Sequence[str]) -> str:
    """``words`` as "a or b or c", the "or" translatable."""
    if len(words) <= 1:
        return words[0] if words else ""
    return Message("{first} or {rest}", first=words[0], rest=either(words[1:]))
