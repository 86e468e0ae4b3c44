"""Outgoing SMS. The demo and tests write messages to the outbox (files and a log line); a production
deployment points TONGBAN_SMS_BACKEND at its SMS gateway adapter. Issue-level notification channels
build on this."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

log = logging.getLogger("tongban.sms")

# Messages sent in this process, newest last; tests read it, as Django's locmem mail outbox.
outbox: list[dict[str, str]] = []


class OutboxSmsBackend:
    """Writes every message to DATA_DIR/outbox/sms.jsonl and to the log; delivers nothing."""

    def send(self, phone: str, text: str) -> None:
        message = {"to": phone, "text": text, "at": timezone.now().isoformat()}
        outbox.append(message)
        folder = Path(settings.DATA_DIR) / "outbox"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "sms.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(message, ensure_ascii=False) + "\n")
        log.info("sms queued", extra={"to": phone[:3] + "****" + phone[-4:]})


def send_sms(*, phone: str, text: str) -> None:
    backend_path = os.environ.get("TONGBAN_SMS_BACKEND", "tongban.core.notify.OutboxSmsBackend")
    import_string(backend_path)().send(phone, text)
