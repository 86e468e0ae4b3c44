"""Production: refuses to start without a secret key and a host list."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, SECRET_KEY

if not SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured(
        "TONGBAN_SECRET_KEY must be set to at least 32 random characters in production."
    )
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("TONGBAN_ALLOWED_HOSTS must list the host names this site answers to.")
