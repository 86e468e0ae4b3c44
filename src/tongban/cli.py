"""The `tongban` command: Django management with the platform's own commands.

tongban demo           migrate, load the demo city, print the demo logins, serve on 127.0.0.1:8000
tongban serve          production server (gunicorn)
tongban serve_gateway  the sharing gateway's own server (granian), for /api/exchange/
tongban licence verify FILE --directory KEYS.json
                       verify a licence file or QR text offline (export KEYS with licence export-directory)
tongban audit verify FILE --directory KEYS.json
                       check an audit receipt, checkpoint or consistency proof offline
tongban <command>      any Django management command (migrate, createsuperuser, …)
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    command = argv[1] if len(argv) > 1 else "help"
    if argv[1:3] == ["licence", "verify"]:
        # The offline verifier: no settings, no database (third parties run it).
        from tongban.licences.offline import main as verify_offline

        sys.exit(verify_offline(argv[3:]))
    if argv[1:3] == ["audit", "verify"]:
        from tongban.exchange.offline import main as audit_offline

        sys.exit(audit_offline(argv[3:]))
    default_settings = (
        "tongban.settings.demo"
        if command in {"demo", "demo_totp", "demo_sms"}
        else "tongban.settings.production"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings)
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
