"""The settings every bench server runs on: production's (persistent database connections, the cache and
rate counters in Redis, Celery with a broker, argon2, the production middleware and logging), except for
what a loopback benchmark cannot have. Never the test settings: those close the database connection after
every request and keep the cache in process memory, which measures a different server.

The bench process itself builds its data on the test settings (fast password hashing), so the server also
accepts the MD5 hashes of the system clients' secrets it created; everything it hashes anew is argon2.
"""

from tongban.settings.production import *  # noqa: F403
from tongban.settings.production import PASSWORD_HASHERS

# Plain HTTP on the loopback address: no HTTPS redirect (TONGBAN_SECURE_SSL_REDIRECT=0 in the server's
# environment), no HSTS. Tokens are bearer headers, so secure cookies do not matter here.
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = [*PASSWORD_HASHERS, "django.contrib.auth.hashers.MD5PasswordHasher"]
