"""Translations of the CLI's messages (gettext): ``_()`` marks and translates a message.

A stub until the catalogs arrive: ``_`` returns its text unchanged (English)."""

from __future__ import annotations


def _(text: str) -> str:
    """The text in the language chosen for this command (English until catalogs exist)."""
    return text
