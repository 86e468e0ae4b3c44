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
  status=0
  $PY - "$before" "$po" <<'PY' || status=$?
import sys
import polib
old, new = (polib.pofile(path) for path in sys.argv[1:3])
added = {e.msgid for e in new} - {e.msgid for e in old}
if added:
    print("New UI strings without an English translation:", *sorted(added), sep="\n  ")
    sys.exit(1)
PY
  if [ "$status" != 0 ]; then
    cp "$before" "$po"
    echo "Run scripts/messages.sh, translate the new entries in $po, commit." >&2
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
