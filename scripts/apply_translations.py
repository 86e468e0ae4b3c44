"""Apply translations from a TSV file (msgid<TAB>English; "one|many" for plurals) to the English catalogue and compile it.

    .venv/bin/python scripts/apply_translations.py new.tsv
Prints what is still untranslated afterwards."""

import sys
from pathlib import Path

import polib

PO = Path(__file__).resolve().parent.parent / "src/tongban/locale/en/LC_MESSAGES/django.po"


def main(tsv: str) -> int:
    pairs = {}
    for line in Path(tsv).read_text(encoding="utf-8").splitlines():
        if line.strip() and "\t" in line:
            msgid, msgstr = line.split("\t", 1)
            pairs[msgid] = msgstr.strip()
    po = polib.pofile(str(PO))
    for entry in po:
        if entry.msgid in pairs:
            if entry.msgid_plural:  # "singular|plural"
                one, _sep, many = pairs[entry.msgid].partition("|")
                entry.msgstr_plural = {0: one, 1: many or one}
            else:
                entry.msgstr = pairs[entry.msgid]
    po.save()
    po.save_as_mofile(str(PO.with_suffix(".mo")))
    missing = [e.msgid for e in po.untranslated_entries()]
    print(f"{po.percent_translated()}% translated; still untranslated: {missing}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
