"""Production settings are safe by default."""

import os
import subprocess
import sys

from django.conf import settings


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
