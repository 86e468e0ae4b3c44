"""Base settings: safe production defaults, everything environment-specific read from the environment.

Environment variables (all optional unless marked):

TONGBAN_SECRET_KEY     (required in production) Django's signing key.
TONGBAN_ALLOWED_HOSTS  comma-separated host names the site answers to (production: required).
DATABASE_URL           e.g. postgres://user:pass@host:5432/tongban; default: SQLite in TONGBAN_DATA_DIR.
TONGBAN_DATA_DIR       where the embedded database, uploads, keys and outbox live (default ./var).
REDIS_URL              cache and Celery broker, e.g. redis://127.0.0.1:6379/0; without it the cache is
                       the database and background tasks run in-process (the embedded default).
TONGBAN_REDIS_TIMEOUT  seconds a cache or rate-counter call waits for Redis before it fails (default 2).
TONGBAN_OIDC_KEY_FILE  PEM file with the RSA key that signs ID tokens (default DATA_DIR/oidc-rsa.pem,
                       generated on first use).
TONGBAN_CSRF_TRUSTED_ORIGINS  comma-separated origins for CSRF behind a proxy.
TONGBAN_BEHIND_PROXY   "1" to trust X-Forwarded-Proto from the reverse proxy (and, unless TONGBAN_TRUSTED_PROXIES
                       says otherwise, one proxy's X-Forwarded-For).
TONGBAN_TRUSTED_PROXIES  how many reverse proxies in front of the application append the address they saw to
                       X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for);
                       the client is the address that many places from the right. Default 1 with
                       TONGBAN_BEHIND_PROXY=1, else 0 (REMOTE_ADDR is the client). See core.http.client_ip.
TONGBAN_SECURE_SSL_REDIRECT  "0" to let the proxy do the HTTP->HTTPS redirect (default "1").
TONGBAN_LOG_LEVEL      INFO by default; logs are JSON lines on stderr.
TONGBAN_LOG_FORMAT     "json" (default) or "text".
TONGBAN_EXCHANGE_OPERATOR  code of the department that runs data sharing (the data bureau): its seal signs
                       the audit log's checkpoints and overdue share requests escalate to it (default ljs-sjj).
TONGBAN_AUDIT_ORIGIN   the audit log's name on its checkpoints (default tongban.example.gov.cn/exchange).
TONGBAN_PSEUDONYM_KEY  the platform's secret for pseudonyms and keyed hashes (exchange/pseudonyms.py): the
                       keys of a subscription's feed when its subscriber may not see them in clear, and the
                       keys in the audit log. Default: derived from TONGBAN_SECRET_KEY. Set it (32 or more
                       random characters) in production and keep it: a new key gives every record a new
                       pseudonym, so subscribers must load their copies again, and log entries written
                       under the old key can no longer be matched with a key.
TONGBAN_GATEWAY_FAST_PATH  "0" to send gateway reads by key through the full page stack too (default "1").
TONGBAN_MAX_UPLOAD_MB  largest request body in MB (default 52: a 50 MB material, the largest a catalogue
                       may allow, plus the form); larger ones are refused (413) from their Content-Length
                       before they are read. Set the reverse proxy's limit to match (nginx
                       client_max_body_size 52m).
TONGBAN_SMS_BACKEND    id of the SMS gateway plugin (default "outbox": a file, DATA_DIR/outbox/sms.jsonl, that
                       delivers nothing). Plugins: TONGBAN_PLUGINS below and docs/plugins.md.
TONGBAN_NOTIFY_CHANNELS  comma-separated channels that tell applicants about their case: "sms" (default),
                       "email".
TONGBAN_VIRUS_SCANNER  id of the virus scanner plugin for uploads: "eicar" (default; recognises the test
                       signature only), "clamd", "none".
TONGBAN_CLAMD          host:port of the ClamAV daemon, with TONGBAN_VIRUS_SCANNER=clamd (default
                       127.0.0.1:3310).
TONGBAN_CLAMD_TIMEOUT  seconds to wait for clamd before the upload is refused as unscanned (default 30).
TONGBAN_KEY_STORE      id of the key store plugin that holds the seals' private keys (default "encrypted-db").
TONGBAN_SEAL_KEK       with the encrypted-db key store: base64 of the 16-byte SM4 key that encrypts the seals'
                       private keys (default: derived from TONGBAN_SECRET_KEY).
TONGBAN_DB_PREPARED    "0" to turn off the prepared hot statements on PostgreSQL (needed behind a pooler in
                       transaction mode without prepared-statement support, such as PgBouncer before 1.21).
TONGBAN_DB_CONN_MAX_AGE  seconds a database connection is kept for the next request (default 60; SQLite
                       always closes it).
CELERY_BROKER_URL      the Celery broker when it is not REDIS_URL; with neither, tasks run in-process.
TONGBAN_FORWARDED_ALLOW_IPS  addresses gunicorn (`tongban serve`) trusts for X-Forwarded-* (default
                       127.0.0.1, the local reverse proxy).

Read by the commands, as defaults of their options, not by these settings:
DJANGO_SETTINGS_MODULE  `tongban` uses tongban.settings.production (demo commands: tongban.settings.demo).
TONGBAN_BIND, TONGBAN_WORKERS, TONGBAN_THREADS  `tongban serve` (gunicorn): address (127.0.0.1:8000), worker
                       processes (2), threads per worker (4).
TONGBAN_GATEWAY_BIND, TONGBAN_GATEWAY_WORKERS, TONGBAN_GATEWAY_THREADS  `tongban serve_gateway` (granian):
                       address (127.0.0.1:8001), workers (2), blocking threads per worker (2).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (os.environ.get(name) or default).split(",") if item.strip()]


PACKAGE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env("TONGBAN_DATA_DIR", str(Path.cwd() / "var"))).resolve()

DEBUG = False
SECRET_KEY = env("TONGBAN_SECRET_KEY") or ""
ALLOWED_HOSTS = env_list("TONGBAN_ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "ninja",  # serves Swagger UI from its own static files, not a CDN (intranet deployments)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "oauth2_provider",
    "axes",
    "tongban.core",
    "tongban.identity",
    "tongban.catalog",
    "tongban.cases",
    "tongban.licences",
    "tongban.registries",
    "tongban.exchange",
    "tongban.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tongban.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tongban.core.middleware.PortalLocaleMiddleware",
    # Before anything that reads the body (CSRF reads request.POST, which streams uploads to disk).
    "tongban.core.middleware.RequestSizeLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tongban.identity.middleware.ActingOrganisationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tongban.core.middleware.SecurityHeadersMiddleware",
    # Last, so that it sees the outcome of authentication (django-axes' documented position).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tongban.urls"
WSGI_APPLICATION = "tongban.wsgi.application"
ASGI_APPLICATION = "tongban.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tongban.identity.context_processors.acting",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'tongban.sqlite3'}",
        conn_max_age=int(env("TONGBAN_DB_CONN_MAX_AGE", "60") or 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, pinging a persistent connection at most once a second rather than every request.
    DATABASES["default"]["ENGINE"] = "tongban.core.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the server's workers and background jobs share the file safely.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Reads by key through the sharing gateway skip the page middleware (tongban.exchange.fastpath).
TONGBAN_GATEWAY_FAST_PATH = env_bool("TONGBAN_GATEWAY_FAST_PATH", True)
# The few statements every gateway call or submission runs are prepared on PostgreSQL (core.postgresql).
TONGBAN_DB_PREPARED = env_bool("TONGBAN_DB_PREPARED", True)

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "tongban.identity.backends.AccountBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "identity:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:home"
PASSWORD_RESET_TIMEOUT = 60 * 30

# Login protection (docs/security-notes/proxy.md). django-axes locks an account for 15 minutes after 5
# failures *from one address* (lockout by account and address): a stranger cannot lock a known staff login
# out for everybody. Across all addresses, an account's attempts after a few failures wait a little
# (LOGIN_DELAY, tongban.identity.lockout), without holding a worker. The login forms are also throttled
# per address (LOGIN_THROTTLE, in identity.views through core.throttle.throttle_client).
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "tongban.identity.backends.axes_username"
AXES_LOCKOUT_CALLABLE = "tongban.identity.views.lockout_response"
# The same client address as every throttle (IPv6: its /64), from the trusted proxies' X-Forwarded-For.
AXES_CLIENT_IP_CALLABLE = "tongban.core.http.client_bucket"
AXES_VERBOSE = False
LOGIN_THROTTLE = {"per_ip_per_minute": 20, "per_ip_per_hour": 200, "reset_per_ip_per_hour": 10}
# After `free_failures` unsuccessful attempts for one account (from any address) its next attempt waits
# 1, 2, 4 … seconds after the last failure, at most `max_seconds`; the count lapses AXES_COOLOFF_TIME
# after the last attempt and a successful login clears it.
LOGIN_DELAY = {"free_failures": 3, "max_seconds": 5}
# How many reverse proxies append to X-Forwarded-For in front of the application (core.http.client_ip).
_trusted_proxies = (env("TONGBAN_TRUSTED_PROXIES") or "").strip()
if _trusted_proxies and not (_trusted_proxies.isascii() and _trusted_proxies.isdigit()):
    raise ImproperlyConfigured("TONGBAN_TRUSTED_PROXIES must be a number of proxies (0, 1, 2 …).")
TONGBAN_TRUSTED_PROXIES = (
    int(_trusted_proxies) if _trusted_proxies else (1 if env_bool("TONGBAN_BEHIND_PROXY", False) else 0)
)

# django-otp: TOTP second factor for staff and for the admin.
OTP_TOTP_ISSUER = "通办 Tongban"
OTP_TOTP_THROTTLE_FACTOR = 1

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Cache: Redis in production; the database otherwise, so that throttles are shared by all workers.
REDIS_URL = env("REDIS_URL")
# A Redis that stops answering fails a request after this long instead of holding its worker forever.
REDIS_TIMEOUT = float(env("TONGBAN_REDIS_TIMEOUT", "2") or 2)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT},
        }
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "tongban_cache"}
    }

# Celery: Redis broker in production; without one, tasks run eagerly in the calling process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not (env("CELERY_BROKER_URL") or REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "identity-housekeeping": {"task": "tongban.identity.tasks.housekeeping", "schedule": 3600.0},
    "cases-deadline-sweep": {"task": "tongban.cases.tasks.deadline_sweep", "schedule": 3600.0 * 6},
    "cases-drafts-purge": {"task": "tongban.cases.tasks.drafts_purge", "schedule": 3600.0 * 24},
    "cases-send-notices": {"task": "tongban.cases.tasks.send_notices", "schedule": 5.0},
    "core-send-outbox": {"task": "tongban.core.tasks.send_outbox", "schedule": 5.0},
    "registries-quality": {"task": "tongban.registries.tasks.quality_run_all", "schedule": 3600.0 * 24},
    # Checkpoints "at least every few seconds" (issue 7): integrate new audit entries and sign.
    "exchange-checkpoint": {"task": "tongban.exchange.tasks.audit_checkpoint", "schedule": 2.0},
    "exchange-request-deadlines": {"task": "tongban.exchange.tasks.request_deadlines", "schedule": 3600.0},
}

# Security: secure by default, relaxed only by the demo and test settings.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 8
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("TONGBAN_SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("TONGBAN_CSRF_TRUSTED_ORIGINS")
if env_bool("TONGBAN_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'self'"
)
# Request bodies: at most TONGBAN_MAX_UPLOAD_MB in all (RequestSizeLimitMiddleware, before reading); of
# that, form fields and JSON at most 5 MB (Django refuses more when read); uploaded files over 2.5 MB are
# spooled to a temporary file, not kept in memory; a form carries at most 20 files.
TONGBAN_MAX_UPLOAD_MB = int(env("TONGBAN_MAX_UPLOAD_MB", "52") or 52)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440
DATA_UPLOAD_MAX_NUMBER_FILES = 20

# OpenID Connect provider and OAuth 2 client credentials (django-oauth-toolkit).
OIDC_KEY_FILE = Path(env("TONGBAN_OIDC_KEY_FILE", str(DATA_DIR / "oidc-rsa.pem")))
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_SCOPES = {
    "openid": _("登录身份（必需）"),
    "profile": _("姓名与实名认证等级"),
    "phone": _("手机号码"),
    "id_number": _("公民身份号码（需要您单独同意）"),
    "organisation": _("您当前代表的组织"),
    "identity.read": _("读取部门与区划目录"),
    "identity.verify": _("核验公民身份信息"),
    "registration.apply": _("代申请人提交办件和材料（GovStack Registration）"),
    "registration.tasks": _("查看和办理本部门的办件环节"),
    "registration.read": _("查看本部门的办件和统计"),
    "registries.read": _("查询基础库（GovStack Digital Registries）"),
    "registries.write": _("写入本部门主管的基础库"),
    "exchange.read": _("按共享授权调用信息资源，查询审计证明"),
    "exchange.write": _("向本部门（或上级部门）主管的基础库批量汇聚数据"),
}
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": "",  # filled in by identity.oidc.load_or_create_key() in IdentityConfig.ready
    "PKCE_REQUIRED": True,
    "SCOPES": OAUTH2_PROVIDER_SCOPES,
    "DEFAULT_SCOPES": ["openid"],
    "OAUTH2_VALIDATOR_CLASS": "tongban.identity.oidc.TongbanOAuth2Validator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ID_TOKEN_EXPIRE_SECONDS": 600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 60 * 60 * 24,
    "ROTATE_REFRESH_TOKEN": True,
    "REQUEST_APPROVAL_PROMPT": "auto",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_USERINFO_ENDPOINT_RESPONSE_TYPE": "application/json",
}

LOG_LEVEL = env("TONGBAN_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "tongban.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": env("TONGBAN_LOG_FORMAT", "json"),
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Outside systems plug in through core.registry (docs/plugins.md): each kind names its plugin's id and the
# options its schema allows. A deployment with its own plugins sets this in its own settings module.
_virus_scanner = env("TONGBAN_VIRUS_SCANNER", "eicar") or "eicar"
_key_store = env("TONGBAN_KEY_STORE", "encrypted-db") or "encrypted-db"
TONGBAN_PLUGINS = {
    "sms": {"id": env("TONGBAN_SMS_BACKEND", "outbox") or "outbox"},
    "notify_channels": [{"id": name} for name in env_list("TONGBAN_NOTIFY_CHANNELS", "sms")],
    "virus_scanner": {
        "id": _virus_scanner,
        "options": {
            "address": env("TONGBAN_CLAMD", "127.0.0.1:3310") or "127.0.0.1:3310",
            "timeout": float(env("TONGBAN_CLAMD_TIMEOUT", "30") or 30),
        }
        if _virus_scanner == "clamd"
        else {},
    },
    "key_store": {
        "id": _key_store,
        "options": {"kek": env("TONGBAN_SEAL_KEK", "") or ""} if _key_store == "encrypted-db" else {},
    },
}

# gunicorn's forwarded_allow_ips (tongban serve): who may set X-Forwarded-* for it.
TONGBAN_FORWARDED_ALLOW_IPS = env("TONGBAN_FORWARDED_ALLOW_IPS", "127.0.0.1") or "127.0.0.1"

TONGBAN_DEMO = False
TONGBAN_EXCHANGE_OPERATOR = env("TONGBAN_EXCHANGE_OPERATOR", "ljs-sjj")
TONGBAN_AUDIT_ORIGIN = env("TONGBAN_AUDIT_ORIGIN", "tongban.example.gov.cn/exchange")
TONGBAN_PSEUDONYM_KEY = env("TONGBAN_PSEUDONYM_KEY") or ""
