"""The gettext catalogs: the committed .mo is the compiled .po, the .po holds every message
the source marks (``_``, ``ngettext``, ``N_`` and the core's ``Message`` in Python; ``_()`` and
``{% trans %}`` in the report's Jinja2 template), each translated for zh with the same
placeholders; and ``Message`` itself."""

from __future__ import annotations

import pickle
import re
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from cli import i18n
from ledger.core.findings import CODES, Finding
from ledger.core.text import Message, either, joined

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "cli/locale/zh/LC_MESSAGES/custody.po"
MO = PO.with_suffix(".mo")
REGENERATE = ("regenerate the catalog: docs/incident.md, 'Languages' (pybabel extract, update, "
              "translate, compile)")


def catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="zh")


TEMPLATES = "ledger/report/templates/**.j2"
METHOD_MAP = [("ledger/**.py", "python"), ("cli/**.py", "python"), (TEMPLATES, "jinja2")]
# The template is extracted with the options ledger.report.html renders it with: the same
# whitespace handling gives the same msgids for {% trans %} blocks.
OPTIONS_MAP = {"ledger/**.py": {}, "cli/**.py": {},
               TEMPLATES: {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                           "lstrip_blocks": "true"}}


def extracted(method_map=METHOD_MAP) -> list[tuple[str, str]]:
    """(file, msgid) of every message Babel extracts with babel.cfg's mapping and the
    keyword Message."""
    from babel.messages.extract import DEFAULT_KEYWORDS

    keywords = {**DEFAULT_KEYWORDS, "Message": None}
    return [(file, message if isinstance(message, str) else message[0])
            for file, _line, message, _comments, _context in extract_from_dir(
                str(ROOT), method_map, options_map=OPTIONS_MAP, keywords=keywords)]


def source_messages() -> set[str]:
    """Every msgid Babel extracts with babel.cfg and the keyword Message."""
    return {message for _file, message in extracted()}


def test_babel_cfg_maps_the_same_sources_the_test_extracts():
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as f:
        assert parse_mapping_cfg(f) == (METHOD_MAP, OPTIONS_MAP)


def test_the_template_is_extracted_as_it_is_rendered():
    from ledger.report.html import environment

    env = environment(str)
    options = OPTIONS_MAP[TEMPLATES]
    assert "jinja2.ext.InternationalizationExtension" in {
        f"{type(e).__module__}.{type(e).__name__}" for e in env.extensions.values()}
    assert options["extensions"] == "jinja2.ext.i18n"
    assert (env.trim_blocks, env.lstrip_blocks) == (True, True)
    assert (options["trim_blocks"], options["lstrip_blocks"]) == ("true", "true")
    template = {message for _file, message in extracted([(TEMPLATES, "jinja2")])}
    assert len(template) > 50  # the report's headings, sentences and labels
    assert {"Custody report", "Summary", "Made at %(generated)s from %(database)s, as of log "
            "position %(position)s."} <= template


def test_the_committed_mo_is_the_compiled_po():
    out = BytesIO()
    write_mo(out, catalog())
    assert out.getvalue() == MO.read_bytes(), "custody.mo is stale: " + REGENERATE


def test_every_marked_message_is_in_the_catalog_and_translated():
    messages = source_messages()
    assert len(messages) > 200  # the extraction found the marked text at all
    po = catalog()
    missing = sorted(m for m in messages if m not in po)
    assert not missing, f"not in custody.po: {missing[:5]} ...; " + REGENERATE
    untranslated = sorted(m.id for m in po if m.id and not m.string)
    assert not untranslated, f"no zh translation: {untranslated[:5]}; " + REGENERATE
    fuzzy = sorted(m.id for m in po if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy: {fuzzy[:5]}"


def test_every_translation_keeps_the_placeholders_of_its_english():
    # {name} in Python's str.format messages, %(name)s in the template's {% trans %} blocks
    names = re.compile(r"\{(\w*)[^{}]*\}|%\((\w+)\)s")

    def placeholders(text: str) -> list[tuple[str, str]]:
        return sorted(set(names.findall(text)))

    broken = [m.id for m in catalog() if m.id and placeholders(m.id) != placeholders(m.string)]
    assert not broken


def test_every_finding_code_meaning_is_translatable():
    assert all(isinstance(meaning, Message) for _severity, meaning in CODES.values())
    po = catalog()
    assert all(po.get(meaning) is not None and po.get(meaning).string
               for _severity, meaning in CODES.values())


# -- Message -------------------------------------------------------------------------------


def test_message_is_its_english_text_and_keeps_template_and_values():
    m = Message("{person} signed with key {key}, revoked earlier", person="P-1", key="ab12")
    assert m == "P-1 signed with key ab12, revoked earlier"
    assert isinstance(m, str) and str(m) == m
    assert m.template == "{person} signed with key {key}, revoked earlier"
    assert m.args == {"person": "P-1", "key": "ab12"}


def test_message_survives_pickling_with_its_template():
    inner = Message("{count} {roles}", count=2, roles=either(["police", "staff"]))
    m = Message("needs {required}", required=inner)
    back = pickle.loads(pickle.dumps(Finding("PRESENCE_SHORT", m)))
    assert back.message == m and back.message.template == "needs {required}"
    assert back.message.args["required"].template == "{count} {roles}"


def test_joined_and_either_read_as_before():
    assert joined([]) == "" and joined(["a"]) == "a" and joined(["a", "b", "c"]) == "a; b; c"
    assert either([]) == "" and either(["police"]) == "police"
    assert either(["police", "staff", "inspector"]) == "police or staff or inspector"


@pytest.fixture
def chinese():
    i18n.use("zh")
    yield
    i18n.use("en")


def test_translated_renders_nested_messages_in_chinese(chinese):
    m = Message("{code} acknowledged on record ({reason}): {message}", code="COUNT_MISMATCH",
                reason="recount", message=Message("count checked {found}, but {expected} on "
                                                  "record", found=29, expected=30))
    assert i18n.translated(m) == "COUNT_MISMATCH 已在记录中确认（recount）：清点数量 29，但记录为 30"
    assert i18n.translated("plain text") == "plain text"
    assert i18n.translated(either(["police", "staff"])) == "police 或 staff"


def test_translated_in_english_is_the_message_itself():
    i18n.use("en")
    m = Message("lot {lot} was returned; no step may follow it", lot="L-1")
    assert i18n.translated(m) == m == "lot L-1 was returned; no step may follow it"
