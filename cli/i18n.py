"""Translations of the CLI's messages (gettext): ``_()`` marks and translates a message.

The language is chosen once per command: ``--lang zh|en`` on the root group, else
``CUSTODY_LANG``, else the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, the
first one set: ``zh_*`` gives Chinese, anything else English). The catalogs are standard
gettext files, ``cli/locale/<lang>/LC_MESSAGES/custody.po`` and the compiled ``.mo`` next to
it; regenerate them with Babel (docs/incident.md, "Languages"). English is the source language: it needs
no catalog. Finding codes and JSON keys are never translated.
"""

from __future__ import annotations

import gettext as _gettext
import os
from pathlib import Path
from typing import Any, Mapping

from cli import times
from ledger.core.text import Message

DOMAIN = "custody"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh")
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current: _gettext.NullTranslations = _gettext.NullTranslations()
_language = "en"


def language_from_locale(environ: Mapping[str, str] | None = None) -> str:
    """``zh`` when the first locale variable set names Chinese (``zh_CN.UTF-8``, ``zh``),
    else ``en``; ``LANGUAGE`` may list several (``zh_CN:en``): its first counts."""
    environ = os.environ if environ is None else environ
    for name in _LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            first = value.split(":")[0].lower()
            return "zh" if first == "zh" or first.startswith(("zh_", "zh-", "zh.")) else "en"
    return "en"


def default_language() -> str:
    """The language a command speaks without --lang: CUSTODY_LANG is read by the option
    itself; this is the locale's choice."""
    return language_from_locale()


def use(language: str) -> None:
    """Speak ``language`` (one of LANGUAGES) from now on in this process."""
    global _current, _language
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    _language = language
    _current = (_gettext.NullTranslations() if language == "en" else
                _gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[language]))


def language() -> str:
    """The language in use: ``en`` or ``zh``."""
    return _language


def _(text: str) -> str:
    """``text`` in the language chosen for this command (marks it for extraction too)."""
    return _current.gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the language chosen (Chinese has one)."""
    return _current.ngettext(singular, plural, n)


def N_(text: str) -> str:
    """Marks ``text`` for the catalog without translating it now (a table of names)."""
    return text


def translated(text: Any) -> str:
    """``text`` for the reader: a ``Message`` from the core re-formatted from its translated
    template (its arguments that are Messages translated too, and stored times shown in the
    command's time zone: ``cli.times``); any other text unchanged."""
    if not isinstance(text, Message):
        return str(text)
    shown = times.localised_args(text.args)
    args = {k: translated(v) if isinstance(v, Message) else shown[k]
            for k, v in text.args.items()}
    return _(text.template).format(**args)


def is_translated(text: Any) -> bool:
    """Whether ``text`` reads wholly in the language in use: always in English; in another,
    only a ``Message`` whose template the catalog holds, as it holds every Message among its
    values. (A line is then printed either all in the reader's language or all in English,
    never a Chinese prefix on English text.)"""
    if _language == "en":
        return True
    if not isinstance(text, Message):
        return False
    catalog = getattr(_current, "_catalog", {})
    return text.template in catalog and all(
        is_translated(value) for value in text.args.values() if isinstance(value, Message))
