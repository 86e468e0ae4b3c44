"""The demo: embedded SQLite, plain HTTP on 127.0.0.1, a secret key generated once into the data dir."""

import secrets

from .base import *  # noqa: F403
from .base import DATA_DIR, OAUTH2_PROVIDER, env, env_list

DATA_DIR.mkdir(parents=True, exist_ok=True)
_key_file = DATA_DIR / "secret_key"
if not _key_file.exists():
    _key_file.write_text(secrets.token_urlsafe(50))
    _key_file.chmod(0o600)
SECRET_KEY = env("TONGBAN_SECRET_KEY") or _key_file.read_text().strip()

ALLOWED_HOSTS = env_list("TONGBAN_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# The demo is served over plain HTTP on the loopback address: no HTTPS redirect, no Secure cookies.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"]}
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = DATA_DIR / "outbox"
TONGBAN_DEMO = True
