"""`tongban catalogue_import FILE`: load a catalogue file (.json, .yaml or .xlsx); all-or-nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tongban.catalog import transfer


class Command(BaseCommand):
    help = "Import a catalogue file (JSON, YAML or Excel). Prints every bad row; saves nothing unless all are good."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        fmt = {"yml": "yaml"}.get(path.suffix.lstrip(".").lower(), path.suffix.lstrip(".").lower())
        try:
            data, where = transfer.loads(path.read_bytes(), fmt)
            report = transfer.import_catalogue(data, where=where)
        except FileNotFoundError:
            raise CommandError(f"no such file: {path}") from None
        except transfer.ImportRefused as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(exc.errors)} errors; nothing imported") from None
        self.stdout.write(
            f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
            f"life events {report.life_events}, themes {report.themes}"
        )
