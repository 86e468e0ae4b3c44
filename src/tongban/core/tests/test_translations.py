"""Every UI string has an English translation, and the compiled catalogue matches the source."""

from pathlib import Path

import polib

import tongban

LOCALE = Path(tongban.__file__).parent / "locale" / "en" / "LC_MESSAGES"


def test_english_catalogue_is_complete():
    po = polib.pofile(str(LOCALE / "django.po"))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert untranslated == [] and fuzzy == []
    assert len(po) > 200


def test_compiled_catalogue_matches_source():
    po = polib.pofile(str(LOCALE / "django.po"))
    mo = polib.mofile(str(LOCALE / "django.mo"))
    assert {e.msgid: e.msgstr for e in po if e.msgstr} == {e.msgid: e.msgstr for e in mo if e.msgid}


def test_english_keeps_the_same_placeholders():
    import re

    po = polib.pofile(str(LOCALE / "django.po"))
    for entry in po:
        placeholders = sorted(re.findall(r"%\(\w+\)[sd]", entry.msgid))
        assert sorted(re.findall(r"%\(\w+\)[sd]", entry.msgstr)) == placeholders, entry.msgid
