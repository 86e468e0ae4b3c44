"""`tongban licence export-directory FILE [--with-statuses]`: the public key directory for offline checks;
`tongban licence seed-types`: the demo licence types. (`tongban licence verify` runs offline, see
tongban.licences.offline.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Electronic licences: export-directory FILE [--with-statuses] | seed-types | verify FILE (offline)"

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export-directory", help="write the public key directory to FILE")
        export.add_argument("file")
        export.add_argument("--with-statuses", action="store_true", help="include suspended/revoked licences")
        sub.add_parser("seed-types", help="create or update the demo licence types")
        verify = sub.add_parser("verify", help="verify a licence file offline")
        verify.add_argument("rest", nargs="*")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.licences import services

        if options["action"] == "export-directory":
            directory = services.key_directory(with_statuses=options["with_statuses"])
            Path(options["file"]).write_text(directory.to_json(), encoding="utf-8")
            self.stdout.write(
                f"{len(directory.keys)} keys, {len(directory.statuses)} statuses → {options['file']}"
            )
        elif options["action"] == "seed-types":
            from tongban.licences.demo import licence_types

            self.stdout.write(f"{len(licence_types())} licence types")
        else:
            from tongban.licences.offline import main

            status = main(options["rest"])
            if status:
                raise CommandError("licence not valid", returncode=status)
