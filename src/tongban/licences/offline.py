"""`tongban licence verify FILE --directory KEYS.json`: check a licence file (or the text of its QR code)
offline, against a public key directory exported with `tongban licence export-directory`. Needs no
database and no configuration. Exit status 0 when valid, 1 when not, 2 on a usage error."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path


def _configure() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=True, LANGUAGE_CODE="zh-hans", USE_TZ=True, TIME_ZONE="Asia/Shanghai")
    import django

    django.setup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tongban licence verify", description="离线核验电子证照")
    parser.add_argument(
        "file", help="licence file (.json), a text file holding the QR code text, or - for stdin"
    )
    parser.add_argument(
        "--directory", default="tongban-seal-directory.json", help="public key directory (export-directory)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    _configure()
    from .verify import KeyDirectory, from_qr, verify_file

    try:
        directory = KeyDirectory.from_json(Path(args.directory).read_text(encoding="utf-8"))
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"tongban licence verify: {exc}", file=sys.stderr)
        return 2
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = from_qr(text)
        except (ValueError, TypeError):
            document = None
    result = verify_file(document, directory, today=dt.date.today())
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        licence = result.licence or {}
        print(f"{'有效' if result.valid else '无效'} ({result.verdict}): {result.reason}")
        if licence:
            holder = (licence.get("holder") or {}).get("name", "")
            print(
                f"  {licence.get('name')} {licence.get('number')} · {holder} · {(licence.get('issuer') or {}).get('name')}"
            )
            print(f"  {licence.get('identifier')}")
        print(f"  公钥目录导出于 {directory.exported_at}")
    return 0 if result.valid else 1
