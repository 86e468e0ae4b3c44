"""Print the SMS the demo sent to a phone (demo only): the demo delivers no SMS, it writes them to
DATA_DIR/outbox/sms.jsonl, so this is how a tester reads a registration code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Show the latest SMS the demo sent to a phone number (registration codes, notices)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("phone")
        parser.add_argument("--last", type=int, default=3, help="how many of the latest messages (default 3)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.TONGBAN_DEMO:
            raise CommandError("demo_sms only works on the demo settings.")
        phone = options["phone"].strip()
        path = Path(settings.DATA_DIR) / "outbox" / "sms.jsonl"
        found = []
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                found = [m for m in map(json.loads, fh) if m.get("to") == phone]
        if not found:
            raise CommandError(f"{phone}: 没有发往该号码的短信（{path}）。")
        for message in found[-max(1, options["last"]) :]:
            self.stdout.write(f"{message['at']}  {message['text']}")
