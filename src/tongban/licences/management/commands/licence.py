"""`tongban licence export-directory FILE [--with-statuses]`: the public key directory for offline checks;
`tongban licence seed-types`: the demo licence types; `tongban licence issuers [TYPE] [--set DEPT …]
[--add DEPT …] [--remove DEPT …]`: which departments may issue each licence type, with how many licences
each has issued (review after upgrading: the migration kept every department that had issued a type).
(`tongban licence verify` runs offline, see tongban.licences.offline.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Electronic licences: export-directory FILE [--with-statuses] | seed-types | "
        "issuers [TYPE] [--set|--add|--remove DEPT ...] | verify FILE (offline)"
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export-directory", help="write the public key directory to FILE")
        export.add_argument("file")
        export.add_argument("--with-statuses", action="store_true", help="include suspended/revoked licences")
        sub.add_parser("seed-types", help="create or update the demo licence types")
        issuers = sub.add_parser("issuers", help="list or set the departments that may issue a licence type")
        issuers.add_argument("type", nargs="?", help="licence type code or name (all types when omitted)")
        issuers.add_argument("--set", nargs="*", metavar="DEPT", help="department codes: exactly these")
        issuers.add_argument("--add", nargs="+", metavar="DEPT", default=[], help="department codes to add")
        issuers.add_argument(
            "--remove", nargs="+", metavar="DEPT", default=[], help="department codes to take off"
        )
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
        elif options["action"] == "issuers":
            self._issuers(options)
        else:
            from tongban.licences.offline import main

            status = main(options["rest"])
            if status:
                raise CommandError("licence not valid", returncode=status)

    def _issuers(self, options: dict[str, Any]) -> None:
        from django.db.models import Count, Q

        from tongban.identity.models import Department
        from tongban.licences import services
        from tongban.licences.models import Licence, LicenceType

        changing = options["set"] is not None or options["add"] or options["remove"]
        types = LicenceType.objects.select_related("issuer").order_by("code")
        if options["type"]:
            types = types.filter(Q(code=options["type"]) | Q(name=options["type"]))
            if not types:
                raise CommandError(f"no licence type {options['type']!r}")
        elif changing:
            raise CommandError("name the licence type to change")
        if changing:
            licence_type = types[0]
            codes = (
                set(options["set"])
                if options["set"] is not None
                else set(licence_type.issuers.values_list("code", flat=True))
            )
            codes = (codes | set(options["add"])) - set(options["remove"])
            departments = list(Department.objects.filter(code__in=codes))
            missing = codes - {d.code for d in departments}
            if missing:
                raise CommandError(f"no department {', '.join(sorted(missing))}")
            services.licence_type_set_issuers(
                acting_user=None, licence_type=licence_type, departments=departments
            )
            if licence_type.issuer is not None and licence_type.issuer.code in set(options["remove"]):
                self.stderr.write(
                    f"{licence_type.issuer.code} is the default issuer of {licence_type.code} and may still issue it"
                )
        for licence_type in types:
            issued = dict(
                Licence.objects.filter(licence_type=licence_type)
                .values_list("issuer__code")
                .annotate(n=Count("id"))
                .values_list("issuer__code", "n")
            )
            allowed = services.licence_type_issuers(licence_type)
            self.stdout.write(f"{licence_type.code} {licence_type.name}")
            for department in allowed:
                default = " (default)" if department.pk == licence_type.issuer_id else ""
                self.stdout.write(
                    f"  {department.code} {department.name}{default}: {issued.pop(department.code, 0)} issued"
                )
            for code, count in sorted(issued.items()):
                self.stdout.write(f"  ! {code}: {count} issued without the authority (these do not verify)")
            if not allowed:
                self.stdout.write("  (no issuer: nobody may issue this type)")
