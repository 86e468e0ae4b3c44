"""Every UI string has an English translation, and the compiled catalogue matches the source."""

import re
from pathlib import Path

import polib

import tongban

LOCALE = Path(tongban.__file__).parent / "locale" / "en" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _translations(entries):
    return {
        e.msgid: (tuple(sorted(e.msgstr_plural.items())) if e.msgid_plural else e.msgstr)
        for e in entries
        if e.msgid
    }


def test_english_catalogue_is_complete():
    po = polib.pofile(str(LOCALE / "django.po"))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert len(po) > 300


def test_compiled_catalogue_matches_source():
    po = polib.pofile(str(LOCALE / "django.po"))
    mo = polib.mofile(str(LOCALE / "django.mo"))
    assert _translations(po) == _translations(mo)


def test_english_keeps_the_same_placeholders():
    po = polib.pofile(str(LOCALE / "django.po"))
    for entry in po:
        expected = sorted(PLACEHOLDER.findall(entry.msgid))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(PLACEHOLDER.findall(text)) == expected, entry.msgid
