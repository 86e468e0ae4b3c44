"""Register another system as an OAuth 2 client: `tongban client_create DEPT NAME --scope identity.verify`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tongban.identity.errors import IdentityError
from tongban.identity.models import Department
from tongban.identity.services import system_client_create


class Command(BaseCommand):
    help = "Create a system client (client credentials, or --redirect-uri for OpenID Connect single sign-on)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("department", help="department code, e.g. ljs-gaj")
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", default=[], help="repeat for several scopes")
        parser.add_argument("--redirect-uri", action="append", default=[], help="makes it an OIDC client")
        parser.add_argument(
            "--trusted", action="store_true", help="skip the consent page (not with id_number)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        department = Department.objects.filter(code=options["department"]).first()
        if department is None:
            raise CommandError(f"no department {options['department']}")
        oidc = bool(options["redirect_uri"])
        try:
            client, secret = system_client_create(
                acting_user=None,
                department=department,
                name=options["name"],
                scopes=options["scope"],
                grant_type="authorization-code" if oidc else "client-credentials",
                redirect_uris=options["redirect_uri"],
                trusted=options["trusted"],
            )
        except IdentityError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"client_id:     {client.application.client_id}")
        self.stdout.write(f"client_secret: {secret}   (shown once; stored hashed)")
        self.stdout.write(f"scopes:        {client.allowed_scopes}")
