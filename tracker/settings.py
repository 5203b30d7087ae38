"""
Settings of the evacuation tracker, read from the environment.

Every variable is listed in README.md ("Configuration"). A bad value stops the
process at start-up with a message naming the variable: a tracker that runs with a
half-understood configuration is worse than one that does not start.

Two ways to run:
- embedded (no variables set): SQLite in the project folder, Celery tasks run
  eagerly in-process, DEBUG on;
- production: DATABASE_URL (PostgreSQL), REDIS_URL (broker and cache), SECRET_KEY,
  ALLOWED_HOSTS, DEBUG off, a `celery worker` and a `celery beat` beside gunicorn.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import dj_email_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name}={value!r} is not an IANA time zone (e.g. Europe/Kyiv, UTC).") from None
    return value


def env_secret(name: str, *, debug: bool) -> str:
    value = env_str(name)
    if value:
        if not debug and (len(value) < 50 or len(set(value)) < 5):
            raise ImproperlyConfigured(f"{name} is too weak for production: use at least 50 random characters.")
        return value
    if debug:
        # Only ever used with DEBUG on, where nothing is exposed to the public.
        return "dev-only-insecure-key-never-use-in-production-9c1f2"
    raise ImproperlyConfigured(
        f"{name} is not set. It is required when DEBUG is off; generate one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )


def env_rate(name: str, default: str) -> str:
    """A throttle rate as the REST framework reads it: a number, a slash, and second, minute, hour or day."""
    value = env_str(name, default)
    number, _slash, period = value.partition("/")
    if not number.isdigit() or int(number) < 1 or period not in {"second", "minute", "hour", "day", "s", "m", "h", "d"}:
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate such as 120/minute (second, minute, hour or day).")
    return value


def env_tile_url(name: str, default: str) -> str:
    """A map tile URL template: http(s), with {z}, {x} and {y} (and optionally {s} for subdomains)."""
    value = env_str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or not all(p in value for p in ("{z}", "{x}", "{y}")):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a tile URL template such as https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png."
        )
    return value


def tile_origin(url_template: str) -> str:
    """The origin the Content Security Policy must allow images from: `{s}.` subdomains become a wildcard."""
    parts = urlsplit(url_template)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


# --- Core -------------------------------------------------------------------

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_secret("SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty: list the host names the app is served on, comma-separated.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "tracker.apps.AdminConfig",  # django.contrib.admin on tracker/adminsite.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "simple_history",
    "csp",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "knox",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tracker",
    "corridors",
]

MIDDLEWARE = [
    # Outermost: one log line and one latency sample per request, whatever answers it.
    "tracker.middleware.RequestLogMiddleware",
    # Cross-origin reads of the API (CORS_* below): before anything that may answer a request.
    "corsheaders.middleware.CorsMiddleware",
    # Pages are compressed for readers on poor connections; Django's GZip adds random
    # padding against BREACH. Static files come precompressed from WhiteNoise.
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # The request, for the security event log's address and actor (tracker/accounts.py).
    "tracker.middleware.RequestContextMiddleware",
    # A response with a restricted site's exact position: never kept by a shared cache; its reads logged.
    "tracker.middleware.ExactPositionMiddleware",
    # An account that must use its second factor sees nothing else until it has.
    "tracker.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the logged-in user on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns a login refused for too many failures into the lockout page (last: it
    # replaces the response of whatever view tried the login).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tracker.urls"
WSGI_APPLICATION = "tracker.wsgi.application"
AUTH_USER_MODEL = "tracker.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
# Widgets render with the templates above, so that templates/admin/widgets/ can add to
# Django's (the admin's time boxes say their zone: tracker/admin_time.py).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database ---------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this app understands: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the dev server read while a write is under way; IMMEDIATE takes the
        # write lock at BEGIN, so two writers queue instead of failing with "locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (production) or SQLite (embedded).")

# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "tracker:login"
LOGIN_REDIRECT_URL = "tracker:my_figures"
LOGOUT_REDIRECT_URL = "tracker:overview"
# django-axes first: it refuses a login from a locked-out account or address before
# the password is even checked (its records are in the database, not the cache).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Password guessing: LOGIN_FAILURE_LIMIT failures for one account name, or from one
# address, lock that name (and that address) out of every login (staff pages, admin,
# API tokens, the second factor) until LOGIN_COOLOFF_MINUTES have passed without a
# failure. The right password does not open a locked account meanwhile.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(minutes=LOGIN_COOLOFF_MINUTES)
# Either one locks: a name guessed from many addresses, an address guessing many names.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The client's address as the API throttles see it (API_NUM_PROXIES), not a forged header.
AXES_CLIENT_IP_CALLABLE = "tracker.accounts.client_address"
AXES_LOCKOUT_CALLABLE = "tracker.account_views.locked_out"
# Successes and failures are in the security event log (tracker.SecurityEvent).
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp", "code", "email"]
AXES_VERBOSE = False

# Two-factor authentication (TOTP, django-otp): required of every account that can see
# restricted sites' exact positions when STAFF_2FA_REQUIRED is on (the default in
# production); any staff member may turn it on for their own account.
STAFF_2FA_REQUIRED = env_bool("STAFF_2FA_REQUIRED", not DEBUG)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Evacuation tracker")
# Each wrong code doubles the wait before the next one is checked (on top of the lockout).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# A password reset link is valid this long.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_MINUTES", 60, minimum=5) * 60
# Reset requests per client address, and per e-mail address, in an hour.
PASSWORD_RESET_LIMIT = env_int("PASSWORD_RESET_LIMIT", 5, minimum=1)

# --- Time and language --------------------------------------------------------

USE_TZ = True
# The zone forms and the admin show and read times in. Storage is always UTC; a
# site's local time is its own `timezone`, whatever this says.
TIME_ZONE = env_zone("TIME_ZONE", "Europe/Kyiv")
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("uk", _("Ukrainian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates as people write them in each language ("5 May", "5 травня"), 24-hour times.
FORMAT_MODULE_PATH = ["tracker.formats"]

# --- Static files -------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Redis: Celery broker and cache -----------------------------------------

REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)

if REDIS_URL:
    CACHES = {
        "default": {
            # Fails open: while Redis is down every read misses and every write is
            # dropped, with a warning, instead of turning requests into errors.
            "BACKEND": "tracker.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that does not answer costs a request at most this, once: then
            # the cache is left alone for a few seconds (tracker/cache.py).
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Parts of public pages, each kept under a key made of its content (tracker/templatetags/fragments.py):
# never stale, so each process keeps its own, in memory; the least used go first.
CACHES["fragments"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "fragments",
    "OPTIONS": {"MAX_ENTRIES": 3000},
}

# --- Celery -----------------------------------------------------------------

# Without a broker, tasks run in-process when they are queued (after the commit
# that queued them) and their errors propagate: the embedded default needs no services.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    # Celery takes a producer even to run a task eagerly (for its serializer), never
    # connecting it; with no broker URL that is AMQP on a host nobody named, and kombu
    # warns "No hostname was supplied" at the first write. In memory, on a named host: no warning.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# A task is acknowledged only when it has finished, and a worker that dies mid-task
# hands it back to the broker: a flag check is never lost to a crash. Each worker
# process reserves one task at a time so a dead worker strands at most one.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
# Broker outages: a worker (and beat) waits for the broker to come back however long
# it takes, instead of giving up after Celery's default 100 attempts, on a transport
# that survives them (tracker/broker.py); a worker that stops on an unrecoverable
# error anyway exits non-zero, and its supervisor (systemd, deploy/) starts it again.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
if urlsplit(CELERY_BROKER_URL).scheme == "redis":
    # kombu's Redis transport, where an outage could stop the worker for good (tracker/broker.py).
    CELERY_BROKER_TRANSPORT = "tracker.broker:Transport"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged task goes back to the queue after this many seconds (Redis has
    # no other way to notice a lost worker); it must exceed the hard time limit.
    "visibility_timeout": max(600, CELERY_TASK_TIME_LIMIT * 2),
    # A broker lost without a word (a dead host, a dropped route rather than a closed
    # connection) is noticed within seconds instead of waiting on a dead socket forever.
    "socket_connect_timeout": 5,
    "socket_timeout": 15,
    "socket_keepalive": True,
    "health_check_interval": 25,
}
# A write request queues its flag check after the commit: when the broker is down it
# gives up after two quick attempts (the outbox marker and the sweep take over)
# rather than holding the request for Celery's default of four.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# What a lost connection does to a task that is running: it finishes, and its
# message, given back to the queue by the broker, runs again (checks are idempotent).
# Chosen, so Celery's warning that its default will change is silenced (tracker/celery.py).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Figures that cannot contradict themselves ----------------------------------

# How far in the future a figure's time may lie (seconds): the clocks of the phone
# that typed it and of the server disagree a little; a figure never reports what
# has not happened yet (docs/design.md, "Figures and where they come from").
FIGURE_CLOCK_SKEW = env_int("FIGURE_CLOCK_SKEW", 300)
# An arrival linked to a corridor window is counted from the window's start to this
# many hours after its end (convoys are held at checkpoints for days); a departure
# lies inside its window. A coordinator may accept an exception with a reason.
ARRIVAL_WINDOW_MARGIN_HOURS = env_int("ARRIVAL_WINDOW_MARGIN_HOURS", 72)

# --- Imports (tracker/imports/) ---------------------------------------------------

# The largest file an import takes, in bytes, and the most data rows: a larger one is
# refused whole (split it). The file is kept with its batch until it is applied.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 64 * 1024 * 1024, minimum=1)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 200_000, minimum=1)
# An import of a large file runs for minutes, not the seconds of a flag check.
IMPORT_TASK_TIME_LIMIT = env_int("IMPORT_TASK_TIME_LIMIT", 3600, minimum=1)
# A conflict event (ACLED, UCDP) at a place no site is named after is the nearest
# site's within this many kilometres; farther, the row is refused with the nearest proposed.
IMPORT_SITE_RADIUS_KM = env_int("IMPORT_SITE_RADIUS_KM", 5, minimum=0)

# --- Flag engine --------------------------------------------------------------

# The sweep runs the flag checks whose task never ran (a broker outage, a killed
# worker) once their outbox marker is FLAG_SWEEP_GRACE seconds old; the full
# reconciliation re-checks every window against every report, as a last line of
# defence against flags made stale by anything that bypassed the services.
FLAG_SWEEP_INTERVAL = env_int("FLAG_SWEEP_INTERVAL", 300, minimum=1)
FLAG_SWEEP_GRACE = env_int("FLAG_SWEEP_GRACE", 60, minimum=0)
FLAG_RECONCILE_INTERVAL = env_int("FLAG_RECONCILE_INTERVAL", 86_400, minimum=60)
SITE_RESTRICTION_CHECK_INTERVAL = env_int("SITE_RESTRICTION_CHECK_INTERVAL", 300, minimum=1)
# The whole data sets are built by a task (tracker.build_downloads): after a change, when
# first asked for (a request queues it), and by beat at this interval; at most this
# stale once a worker has caught up. A large build runs for minutes.
DOWNLOADS_REFRESH_INTERVAL = env_int("DOWNLOADS_REFRESH_INTERVAL", 300, minimum=1)
DOWNLOADS_TASK_TIME_LIMIT = env_int("DOWNLOADS_TASK_TIME_LIMIT", 1800, minimum=60)
CELERY_BEAT_SCHEDULE = {
    "flags-sweep": {
        "task": "corridors.sweep_flags",
        "schedule": FLAG_SWEEP_INTERVAL,
        # A sweep still queued when the next is due is dropped: the next one does its work.
        "options": {"expires": FLAG_SWEEP_INTERVAL},
    },
    "flags-reconcile-all": {
        "task": "corridors.reconcile_all_flags",
        "schedule": FLAG_RECONCILE_INTERVAL,
        "options": {"expires": FLAG_RECONCILE_INTERVAL},
    },
    "webhooks-sweep": {
        "task": "corridors.sweep_webhooks",
        "schedule": env_int("WEBHOOK_SWEEP_INTERVAL", 60, minimum=1),
        "options": {"expires": env_int("WEBHOOK_SWEEP_INTERVAL", 60, minimum=1)},
    },
    # A site inside a restricted one that is not restricted is restricted, and logged as an error.
    "sites-repair-restrictions": {
        "task": "tracker.repair_site_restrictions",
        "schedule": SITE_RESTRICTION_CHECK_INTERVAL,
        "options": {"expires": SITE_RESTRICTION_CHECK_INTERVAL},
    },
    "flag-alerts-sweep": {
        "task": "corridors.sweep_flag_alerts",
        "schedule": env_int("WEBHOOK_SWEEP_INTERVAL", 60, minimum=1),
        "options": {"expires": env_int("WEBHOOK_SWEEP_INTERVAL", 60, minimum=1)},
    },
    "flag-alerts-digest": {
        "task": "corridors.sweep_flag_alerts",
        "schedule": env_int("ALERT_DIGEST_INTERVAL", 3600, minimum=60),
        "kwargs": {"digest": True},
        "options": {"expires": env_int("ALERT_DIGEST_INTERVAL", 3600, minimum=60)},
    },
    # The whole data sets (tracker/api/downloads.py): made here and after changes, never in a request.
    "downloads-build": {
        "task": "tracker.build_downloads",
        "schedule": DOWNLOADS_REFRESH_INTERVAL,
        "options": {"expires": DOWNLOADS_REFRESH_INTERVAL},
    },
    "api-purge-idempotency-records": {
        "task": "tracker.purge_idempotency_records",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
}

# --- Webhooks ---------------------------------------------------------------------

# Endpoints whose address resolves to a private, loopback, link-local or otherwise
# non-public address are refused (they would let a user reach our own network);
# allowed only on closed networks and in the tests.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10, minimum=1)
# Seconds before each retry of a delivery that failed: the Standard Webhooks
# schedule, about 28 hours in all. When the last fails, the endpoint is turned off.
_retries = env_list("WEBHOOK_RETRY_SCHEDULE", ["5", "300", "1800", "7200", "18000", "36000", "36000"])
if not all(delay.isdigit() for delay in _retries):
    raise ImproperlyConfigured(f"WEBHOOK_RETRY_SCHEDULE={','.join(_retries)!r}: give whole seconds, comma-separated.")
WEBHOOK_RETRY_SCHEDULE = [int(delay) for delay in _retries]

# --- REST API ---------------------------------------------------------------------

# The contract is docs/api.md; its conventions are implemented once, in tracker/api/base.py.
REST_FRAMEWORK = {
    # The first class answers 401s with `WWW-Authenticate: Token`; a browser session
    # works too, with its CSRF check.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # Data users' read-only keys (`Authorization: Api-Key KEY`), issued by admins.
        "tracker.api.keys.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tracker.api.policy.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "tracker.api.policy.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "tracker.api.renderers.CSVRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tracker.api.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tracker.api.policy.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "tracker.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "tracker.api.base.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        # DRF's, except that a request with an API key is counted by its key alone.
        "tracker.api.keys.AnonRateThrottle",
        "tracker.api.keys.UserRateThrottle",
        "tracker.api.keys.ApiKeyRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("API_THROTTLE_ANON", "120/minute"),
        "user": env_rate("API_THROTTLE_USER", "600/minute"),
        # Asking for a token with a password: slow enough to make guessing pointless.
        "token": env_rate("API_THROTTLE_TOKEN", "10/minute"),
        # A data user's read-only key, unless the admin gave that key its own rate.
        "api_key": env_rate("API_THROTTLE_KEY", "1200/minute"),
    },
    # How many proxies in front of the app append to X-Forwarded-For: the throttles
    # count clients by the address the last of them saw. 0 means REMOTE_ADDR; never
    # None, with which the REST framework trusts whatever X-Forwarded-For a client sends.
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 1 if env_bool("BEHIND_TLS_PROXY", False) else 0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Where the whole data sets (`/api/v1/downloads/`) are kept, one folder per version of
# the data (tracker/api/downloads.py); a folder of an old version may be deleted any time.
DOWNLOADS_DIR = Path(env_str("DOWNLOADS_DIR", str(BASE_DIR / "var" / "downloads")))

# The rate of an API key with none of its own when the settings name none (a test's rates).
API_KEY_DEFAULT_RATE = "1200/minute"

# Browsers: a newsroom's or a data portal's JavaScript on any site may read the API
# anonymously (GET, HEAD), and nothing else: no other method passes a preflight, no
# `Authorization` header may be sent, and without Access-Control-Allow-Credentials a
# browser sends no cookie (and reads no answer to a request that sent one). The public
# data is public; a logged-in person's session is never usable from another site.
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_HEADERS = ("accept", "accept-language", "if-none-match")
# What a script may read of an answer: the pages' links, the total, the version and the wait after a 429.
CORS_EXPOSE_HEADERS = ("Link", "X-Total-Count", "ETag", "Retry-After", "Content-Disposition")
CORS_PREFLIGHT_MAX_AGE = 86400

# API tokens are stored hashed (knox), expire API_TOKEN_TTL_HOURS after their last use
# (0: never) and can be revoked (POST /api/v1/auth/token/revoke/, or in the admin).
_token_ttl_hours = env_int("API_TOKEN_TTL_HOURS", 24 * 30)
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=_token_ttl_hours) if _token_ttl_hours else None,
    "AUTO_REFRESH": True,
    "MIN_REFRESH_INTERVAL": 600,
}

# How long the first response to a POST with an Idempotency-Key is kept.
IDEMPOTENCY_KEY_TTL = dt.timedelta(days=1)

SPECTACULAR_SETTINGS = {
    "TITLE": "Evacuation tracker API",
    "DESCRIPTION": (
        "Civilians in besieged places, the humanitarian corridors meant to get them out, the people who left "
        "and arrived, the hostilities reported meanwhile, and the flags that say a corridor window and a "
        "hostility report overlap. Reads are public; writes need a token (`Authorization: Token KEY`, from "
        "`POST /api/v1/auth/token/`) or a browser session with CSRF. Every instant is ISO 8601 in UTC on output; "
        "input needs an offset. Lists are paginated (`page`, `page_size` up to 500; with `updated_since`, by "
        "the `cursor` of their `next` link), accept `updated_since` and "
        "`format=csv` (CSV with an HXL hashtag row). The exact position of a restricted site is never given to "
        "anyone without the permission to see it: it is coarsened to about 10 km."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Requests and responses get their own components: read-only fields are not asked
    # for, write-only ones (a password) are never shown.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    # drf-spectacular's enum naming, then shared components for what it writes inline in
    # every operation (the error body, query parameters' words): a small generated client.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tracker.api.schema.postprocess_shared_components",
    ],
    # No badge from the online validator: the docs page loads nothing from elsewhere.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every enum of the schema is named here (tests/tracker/test_api_schema.py checks it): names
    # that client generators turn into stable, readable types, not drf-spectacular's `Kind7aeEnum`.
    "ENUM_NAME_OVERRIDES": {
        "VerificationEnum": "tracker.models.Verification",
        "QualifierEnum": "tracker.models.Qualifier",
        "RoleEnum": "tracker.models.Role",
        "SourceKindEnum": "tracker.models.Source.Kind",
        "SiteKindEnum": "tracker.models.Site.Kind",
        "HostilityKindEnum": "tracker.models.HostilityReport.Kind",
        "TimePrecisionEnum": "tracker.models.HostilityReport.Precision",
        "CorridorStatusEnum": "corridors.models.Corridor.Status",
        "WindowStatusEnum": "corridors.models.CorridorWindow.Status",
        "FlagCertaintyEnum": "corridors.models.Flag.Certainty",
        "FlagStatusEnum": "corridors.models.Flag.Status",
        "FlagReviewStatusEnum": "corridors.api.serializers.REVIEW_STATUSES",
        "ImportStatusEnum": "tracker.models.ImportBatch.Status",
        "ImportResourceEnum": "tracker.imports.resources.RESOURCE_NAMES",
        "ImportFormatEnum": "tracker.imports.readers.FORMATS",
        "WebhookEventTypeEnum": "corridors.models.Webhook.EVENT_TYPES",
        "AlertDeliveryEnum": "corridors.models.AlertSubscription.Delivery",
        "LanguageEnum": "tracker.settings.LANGUAGES",
        # Query parameters' words, made shared components by tracker/api/schema.py.
        "FormatEnum": ["csv", "json"],
        "GeoFormatEnum": ["csv", "geojson", "json"],
        "HxlEnum": ["0", "1"],
        "JsonFormatEnum": ["json"],
        "DownloadFormatEnum": ["csv", "geojson", "xlsx"],
    },
}

# --- E-mail (password reset links) -------------------------------------------------

# Printed on the console in development; sent by SMTP in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on: STARTTLS on 587, or TLS on 465.")
EMAIL_TIMEOUT = 10
# Or all of the above in one URL (dj-email-url): smtp://user:pass@host:587/?tls=True,
# submission://…, console:, memory:. It wins over the EMAIL_* variables.
if env_str("EMAIL_URL"):
    try:
        vars().update({k: v for k, v in dj_email_url.parse(env_str("EMAIL_URL")).items() if v is not None})
    except Exception as exc:
        raise ImproperlyConfigured(f"EMAIL_URL is not an e-mail URL this app understands: {exc}") from None
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tracker@localhost")
# The address of the site, for the links in e-mails (flag alerts).
SITE_URL = env_str("SITE_URL", "http://localhost:8000")

# --- Security ---------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the staff pages' JavaScript reads it for POSTs
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Map -------------------------------------------------------------------------

# The map's background. The page is complete without it: sites and corridors are drawn
# from the page itself, and the same data is in the tables beside the map.
MAP_TILE_URL = env_tile_url("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env_str(
    "MAP_TILE_ATTRIBUTION", '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

# --- Content Security Policy ------------------------------------------------------

# No inline scripts or styles anywhere: every script and stylesheet is a static file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", tile_origin(MAP_TILE_URL)],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Logging ----------------------------------------------------------------

# One line per record, its time in UTC with the offset (tracker/logs.py); one JSON
# object per line with LOG_FORMAT=json, for a log collector.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL.")
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not plain or json.")
# One line per request (tracker/middleware.py) and per task (tracker/celery.py). Off
# in development, where runserver prints its own line per request.
LOG_REQUESTS = env_bool("LOG_REQUESTS", not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "tracker.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "tracker.logs.JSONFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # Django's own handler for it (DEBUG only) would print each of its records
        # (a 404's warning, runserver's reloader) a second time beside ours.
        "django": {"handlers": [], "level": "INFO"},
        "tracker": {"level": LOG_LEVEL},
        # One line per security event (tracker.SecurityEvent), for the operators' logs too.
        "tracker.security": {"level": "INFO"},
        "corridors": {"level": LOG_LEVEL},
        # A failing check is in /health/'s answer, and the outage behind it in the
        # app's own (rate-limited) warnings: not a traceback per poll.
        "health_check": {"level": "ERROR"},
    },
}

# --- Health and metrics -------------------------------------------------------------

# GET /health/ (tracker/health.py): how long a worker has to answer a ping, and how
# old the oldest pending flag check may be before flags count as stopped (by default:
# the sweep's grace plus two of its intervals, by when the sweep must have run it).
HEALTH_WORKER_TIMEOUT = env_int("HEALTH_WORKER_TIMEOUT", 1, minimum=1)
HEALTH_FLAG_BACKLOG_SECONDS = env_int(
    "HEALTH_FLAG_BACKLOG_SECONDS", FLAG_SWEEP_GRACE + 2 * FLAG_SWEEP_INTERVAL, minimum=1
)
if not DEBUG:
    # A supervisor or load balancer asks over plain HTTP on the host itself.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]

# GET /metrics (tracker/metrics.py) for Prometheus, with `Authorization: Bearer <token>`.
# Unset: there is no /metrics.
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN is too short: use at least 32 random characters.")
# prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself: the directory where each
# gunicorn and Celery process of the host writes its counts, for /metrics to add up.
_multiproc_dir = env_str("PROMETHEUS_MULTIPROC_DIR")
if _multiproc_dir and not (os.path.isdir(_multiproc_dir) and os.access(_multiproc_dir, os.W_OK)):
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR={_multiproc_dir!r} is not a writable directory.")
