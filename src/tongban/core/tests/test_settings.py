"""Production settings are safe by default."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

import tongban


def _import_production(env):
    code = "import tongban.settings.production as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)


def test_production_refuses_to_start_without_secret_key_or_hosts():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    result = _import_production(env)
    assert result.returncode != 0 and "TONGBAN_SECRET_KEY" in result.stderr
    env["TONGBAN_SECRET_KEY"] = "x" * 50
    result = _import_production(env)
    assert result.returncode != 0 and "TONGBAN_ALLOWED_HOSTS" in result.stderr
    env["TONGBAN_ALLOWED_HOSTS"] = "gov.example.cn"
    result = _import_production(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_passwords_are_hashed_with_argon2_in_production():
    from tongban.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    from django.contrib.auth.hashers import Argon2PasswordHasher

    encoded = Argon2PasswordHasher().encode("s3cret-passphrase", Argon2PasswordHasher().salt())
    assert encoded.startswith("argon2$argon2id$")
    assert Argon2PasswordHasher().verify("s3cret-passphrase", encoded)


def test_staff_admin_requires_second_factor():
    from django.contrib import admin
    from django_otp.admin import OTPAdminSite

    assert isinstance(admin.site, OTPAdminSite)
    assert settings.OAUTH2_PROVIDER["PKCE_REQUIRED"] is True


def _tongban(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TONGBAN_", "DJANGO_", "DATABASE_"))}
    base["PYTHONPATH"] = str(Path(tongban.__file__).parent.parent)  # this checkout's code
    command = [sys.executable, "-m", "tongban.cli", *args]
    return subprocess.run(command, env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_a_command_without_production_settings_says_what_to_set_in_one_line(tmp_path):
    result = _tongban("licence", "export-directory", str(tmp_path / "keys.json"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "tongban: TONGBAN_SECRET_KEY must be set to at least 32 random characters in production. Set it in "
        "the environment (tongban/settings/base.py lists the variables), or run with "
        "DJANGO_SETTINGS_MODULE=tongban.settings.demo for the demo."
    ]
    result = _tongban("check", TONGBAN_SECRET_KEY="x" * 40)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("tongban: TONGBAN_ALLOWED_HOSTS must list the host names")
    assert not (tmp_path / "keys.json").exists()
