"""The `tongban` command: Django management with the platform's own commands.

tongban demo           migrate, load the demo city, print the demo logins, serve on 127.0.0.1:8000
tongban serve          production server (gunicorn)
tongban serve_gateway  the sharing gateway's own server (granian), for /api/exchange/
tongban licence verify FILE --directory KEYS.json
                       verify a licence file or QR text offline (export KEYS with licence export-directory)
tongban audit verify FILE --directory KEYS.json
                       check an audit receipt, checkpoint or consistency proof offline
tongban <command>      any Django management command (migrate, createsuperuser, …)

Commands other than ``demo`` use the production settings unless DJANGO_SETTINGS_MODULE says otherwise;
settings that refuse to load (no TONGBAN_SECRET_KEY, say) end the command with one line that names the
variable, not a traceback.
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
    chosen = os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings)
    from django.core.management import execute_from_command_line

    if command not in {"help", "--help", "-h", "version", "--version"}:
        _load_settings_or_exit(chosen)
    execute_from_command_line(argv)


def _load_settings_or_exit(module: str) -> None:
    """Import the settings now, so that a missing variable is one line on stderr (exit status 2)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports the settings module
    except ImproperlyConfigured as exc:
        hint = (
            "Set it in the environment (tongban/settings/base.py lists the variables), or run with "
            "DJANGO_SETTINGS_MODULE=tongban.settings.demo for the demo."
            if module == "tongban.settings.production"
            else f"(settings {module})"
        )
        sys.stderr.write(f"tongban: {str(exc).rstrip('.')}. {hint}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
