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


def message_data(text: str) -> Any:
    """``text`` as plain data (JSON, msgpack) that keeps a ``Message``'s template and values:
    a stored copy (the view's findings) can be shown in any language later. Plain text stays
    a string; a value that is neither text nor a number is kept as its text."""
    if isinstance(text, Message):
        return {"template": text.template,
                "args": {name: _value_data(value) for name, value in text.args.items()}}
    return str(text)


def _value_data(value: Any) -> Any:
    if isinstance(value, str):
        return message_data(value)
    if value is None or type(value) in (int, bool):
        return value
    return str(value)


def message_from_data(data: Any) -> str:
    """The text :func:`message_data` kept: a ``Message`` again (its English text is the same),
    or the plain string; anything else is refused with ValueError."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and set(data) == {"template", "args"} and isinstance(
            data["template"], str) and isinstance(data["args"], dict):
        args = {str(name): (value if value is None or type(value) in (int, bool)
                            else message_from_data(value))
                for name, value in data["args"].items()}
        try:
            return Message(data["template"], **args)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"a stored message does not format: {exc}") from None
    raise ValueError("a stored message is neither text nor a template with its values")
