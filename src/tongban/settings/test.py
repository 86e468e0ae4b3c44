"""Tests: the demo's relaxed transport, fast hashing, an in-memory cache, a throw-away data dir.

DATABASE_URL selects the database (SQLite by default, PostgreSQL in CI).
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TONGBAN_DATA_DIR", tempfile.mkdtemp(prefix="tongban-test-"))
os.environ.setdefault("TONGBAN_SECRET_KEY", "test-secret-key-not-for-production-0123456789")

from .demo import *  # noqa: F403
from .demo import DATA_DIR

# Argon2 is exercised by its own test; the rest of the suite hashes fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
OIDC_KEY_FILE = Path(DATA_DIR) / "oidc-rsa.pem"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TONGBAN_DEMO = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, like production (WAL, busy timeout): an in-memory shared-cache database has table locks
    # that make concurrency tests fail for reasons production never sees.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(DATA_DIR) / "test.sqlite3")}  # noqa: F405

# The live server's request threads (browser tests) can outlive their test on a kept-alive socket. With
# persistent connections such a thread kept a session open into the test database's teardown, which then
# failed to drop it (a warning at the end of some PostgreSQL runs). Each request closes its connection.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
