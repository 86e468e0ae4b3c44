#!/usr/bin/env bash
# Re-extract UI strings and compile the catalogue. With --check, fail when the .po file is out of date
# (a new string without an English translation), without changing anything.
set -euo pipefail
cd "$(dirname "$0")/../src/tongban"
PY=../../.venv/bin/python
export DJANGO_SETTINGS_MODULE=tongban.settings.test
po=locale/en/LC_MESSAGES/django.po
if [ "${1:-}" = "--check" ]; then
  before=$(mktemp); cp "$po" "$before"
  ../../.venv/bin/tongban makemessages -l en --no-location --no-obsolete -i "*/tests/*" >/dev/null
  if ! diff -q <(grep -v POT-Creation-Date "$before") <(grep -v POT-Creation-Date "$po") >/dev/null; then
    diff <(grep -v POT-Creation-Date "$before") <(grep -v POT-Creation-Date "$po") | head -40
    cp "$before" "$po"
    echo "UI strings changed: run scripts/messages.sh, translate the new entries in $po, commit." >&2
    exit 1
  fi
  cp "$before" "$po"
  exit 0
fi
../../.venv/bin/tongban makemessages -l en --no-location --no-obsolete -i "*/tests/*"
$PY - <<'PY'
import polib
po = polib.pofile("locale/en/LC_MESSAGES/django.po")
po.save_as_mofile("locale/en/LC_MESSAGES/django.mo")
print(f"{po.percent_translated()}% translated; untranslated: {[e.msgid for e in po.untranslated_entries()]}")
PY
