#!/usr/bin/env bash
# Before a commit: format, then the checks `make test` runs (quietly), then the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check -q --fix src bench || true
.venv/bin/ruff format -q src bench
.venv/bin/ruff check -q src bench
bash scripts/messages.sh --check
DJANGO_SETTINGS_MODULE=tongban.settings.test .venv/bin/tongban makemigrations --check --dry-run >/dev/null
.venv/bin/pytest -q -p no:cacheprovider "$@" 2>&1 | tail -1
