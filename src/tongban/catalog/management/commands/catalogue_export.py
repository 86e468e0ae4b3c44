"""`tongban catalogue_export FILE`: write the whole catalogue; the format follows the extension."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tongban.catalog import transfer


class Command(BaseCommand):
    help = "Export the catalogue to FILE (.json, .yaml or .xlsx)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        fmt = {"yml": "yaml"}.get(path.suffix.lstrip(".").lower(), path.suffix.lstrip(".").lower())
        if fmt not in {"json", "yaml", "xlsx"}:
            raise CommandError("use a .json, .yaml or .xlsx file name")
        data = transfer.export_catalogue()
        path.write_bytes(transfer.dumps(data, fmt))
        self.stdout.write(f"{len(data['items'])} items, {len(data['life_events'])} life events -> {path}")
