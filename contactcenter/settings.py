"""Switchboard settings: every value comes from the environment (see README, Configuration).

Two run modes share this file:

* **Embedded** (no ``DATABASE_URL``, no ``REDIS_URL``): SQLite in ``DATA_DIR``, an
  in-process channel layer and cache, Celery tasks run in the web process, and
  the embedded scheduler in the ASGI server runs the periodic schedule.
* **Production**: PostgreSQL from ``DATABASE_URL``; Redis from ``REDIS_URL`` as
  Celery broker, channel layer and cache; separate ``celery worker`` and
  ``celery beat`` processes.

Each half is independent: PostgreSQL without Redis runs background work
in-process; Redis without PostgreSQL keeps SQLite.
"""

from __future__ import annotations

import importlib.util
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from contactcenter.env import Env
from contactcenter.logsafety import CHATTY_LOGGERS

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.text("DATA_DIR", str(BASE_DIR / "data"))).resolve()

DATABASE_URL = env.url("DATABASE_URL", ("postgres", "postgresql", "sqlite"))
REDIS_URL = env.url("REDIS_URL", ("redis", "rediss"))
EMBEDDED_WORKER = REDIS_URL is None
"""True when background work runs inside the web process (no Redis broker)."""

DEBUG = env.flag("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR.

    Keeping it on disk means sessions survive restarts of the embedded default
    without anyone having to invent a key; production sets SECRET_KEY.
    """
    value = env.optional_text("SECRET_KEY")
    if value is not None:
        if len(value) < 32:
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")
        return value
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key, encoding="utf-8")
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = (env.url("SITE_URL", ("http", "https")) or "http://127.0.0.1:8000").rstrip("/")
"""Where customers reach this server: the base of the links sent to them (CSAT surveys)."""
WEB_THREADS = env.integer("WEB_THREADS", 2, minimum=1, maximum=256)
"""Threads per web server process running requests (contactcenter/http.py); at most DATABASE_POOL_SIZE.

Few: they share the process's GIL with the event loop that carries every
websocket, and more busy threads delay its pushes (bench load)."""
TIME_ZONE = env.time_zone("TIME_ZONE", "UTC")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en-us"
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "axes",
    "core",
    "agents",
    "console",
    "routing",
    "monitoring",
    "responses",
    "chat",
    "reporting",
    "quality",
    "contactcenter",  # the project itself: the serve and seed_demo commands
]
# Benchmarks and the load driver (``manage.py bench``, ``bench_table``) are a dev-only
# package: present in a checkout, absent from the production image (.dockerignore).
# Nothing in the product imports it; only its management commands need the app.
if importlib.util.find_spec("bench") is not None:
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "contactcenter.middleware.ContentSecurityPolicyMiddleware",
    "contactcenter.middleware.DomainErrorMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "contactcenter.urls"
ASGI_APPLICATION = "contactcenter.asgi.application"
WSGI_APPLICATION = "contactcenter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
if DATABASE_URL is None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "switchboard.sqlite3",
            "OPTIONS": {
                # WAL lets the dashboard read while the embedded worker writes;
                # IMMEDIATE takes the write lock at BEGIN, so two writers queue
                # on the busy timeout instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
else:
    try:
        _database: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL))
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {error}") from None
    # Django's persistent connections (CONN_MAX_AGE) are never reused under ASGI,
    # where each request runs in a thread of its own, and leak (shared PERFORMANCE.md);
    # instead Django "closes" its connection after each request and task, and our
    # backend returns it to a per-process pool (contactcenter/postgresql/pool.py).
    _database["CONN_MAX_AGE"] = 0
    if _database.get("ENGINE") == "django.db.backends.postgresql":
        _database["ENGINE"] = "contactcenter.postgresql"
    # jit=off: the reports and the live dashboard aggregate up to millions of ledger
    # rows, and PostgreSQL's JIT compiled each such query for 300-500 ms, more than
    # the query itself took (bench reports); nothing here gains from it.
    _database["OPTIONS"] = {
        "connect_timeout": 5,
        "options": "-c jit=off",
        "pool_size": env.integer("DATABASE_POOL_SIZE", 10, minimum=0, maximum=1000),
        "pool_timeout": env.integer("DATABASE_POOL_TIMEOUT", 30, minimum=1, maximum=3600),
        **(_database.get("OPTIONS") or {}),
    }
    DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer, cache -------------------------------------
if REDIS_URL is None:
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    # No broker: a task runs in the caller's thread, after the transaction
    # that enqueued it commits (actions enqueue through transaction.on_commit).
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults socket_timeout to 5 s, the same as the
                # layer's blocking BZPOPMIN: every idle socket would fail with
                # TimeoutError. A longer read timeout still catches dead links.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False

CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it has finished, so a worker killed
# mid-task leaves it to be redelivered; tasks are written to be idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Sessions, auth, static --------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "contactcenter" / "static"]
# Serve straight from the app folders, so no collectstatic step is needed to
# run; production images run collectstatic and get compressed, hashed files.
WHITENOISE_USE_FINDERS = not (STATIC_ROOT / "staticfiles.json").exists()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if WHITENOISE_USE_FINDERS
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security ------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # read by console.js for its fetch() posts; it is no secret
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

HTTPS = env.flag("HTTPS", SITE_URL.startswith("https://"))
"""Served over HTTPS (the default when SITE_URL is https): secure cookies, HSTS, redirect to https."""
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    # Load balancers and docker-compose probe over plain HTTP from inside.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.flag("SECURE_HSTS_PRELOAD", True)
if env.flag("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets the header itself and strips the client's.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")
"""Addresses of the reverse proxies whose X-Forwarded-For (and -Proto) the web server believes (manage.py serve).

Empty (the default): the server reads no forwarding header at all, and a request's address
is the connection's; else only a connection from one of these takes its client's address
from the header (the last entry the proxy appended, not what the client wrote before it)."""

# Request bodies: the most bytes one may have, per kind of route, enforced by the ASGI
# handler before the body is read (contactcenter/http.py, body_limit). The reply routes
# take an email reply's files: they allow twice EMAIL_REPLY_ATTACHMENT_MAX_BYTES more.
MAX_BODY_BYTES_WEBHOOKS = env.integer("MAX_BODY_BYTES_WEBHOOKS", 1_048_576, minimum=1024)
"""/webhooks/...: the platforms' deliveries (Meta and X send batches well under 1 MiB)."""
MAX_BODY_BYTES_API = env.integer("MAX_BODY_BYTES_API", 1_048_576, minimum=1024)
"""/api/...: JSON from integrations and the console's scripts."""
MAX_BODY_BYTES_FORMS = env.integer("MAX_BODY_BYTES_FORMS", 262_144, minimum=1024)
"""Everything else: the pages' forms, the admin, logging in."""
if env.raw("WEBHOOK_MAX_BYTES") is not None:
    raise ImproperlyConfigured("WEBHOOK_MAX_BYTES is now MAX_BODY_BYTES_WEBHOOKS; rename the variable.")

# Content-Security-Policy: every script is a file served from here (no inline
# script, no eval), and so is every style sheet; pages never load anything from
# another origin. 'self' in connect-src covers the same-origin websocket.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failed logins for one
# username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address is REMOTE_ADDR (django-ipware is deliberately not
# installed): a header the client can set itself (X-Forwarded-For) would let an
# attacker pick a fresh address per attempt. REMOTE_ADDR is the connection's
# address unless TRUSTED_PROXIES names the proxy it came through (serve starts
# uvicorn with proxy headers off otherwise). Behind an untrusted proxy every client
# has the proxy's address, and the lockout is still per username.

# --- REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF takes the WWW-Authenticate header from the first class, so an
    # unauthenticated request gets a 401 ("Token") rather than a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.rest.exceptions.api_exception_handler",
    # Used by generic list views; plain APIViews (reports, actions) are not paginated.
    "DEFAULT_PAGINATION_CLASS": "core.rest.pagination.NewestFirstCursorPagination",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": (
        "Session auth for the browser, `Authorization: Token <key>` for integrations. "
        'Every error is `{"code", "message", "fields"}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's JavaScript and CSS come from the drf-spectacular-sidecar
    # package and are served locally: no CDN, so the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Ids in paths (core.rest.ids.IdConverter): what the id columns hold on every database.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
}

# --- Switchboard -------------------------------------------------------------------
SANDBOX_ENABLED = env.flag("SANDBOX_ENABLED", DATABASE_URL is None)
"""Whether the built-in sandbox source produces demo customer posts."""
SANDBOX_POSTS_PER_MINUTE = env.integer("SANDBOX_POSTS_PER_MINUTE", 12, minimum=0, maximum=60_000)
SANDBOX_EMAILS_PER_MINUTE = env.integer("SANDBOX_EMAILS_PER_MINUTE", 3, minimum=0, maximum=6_000)
"""Customer emails the sandbox hands the demo mailbox (``seed_demo``'s "demo"), through the pipe command's path."""
SANDBOX_CHATS_PER_MINUTE = env.integer("SANDBOX_CHATS_PER_MINUTE", 2, minimum=0, maximum=6_000)
"""Visitor messages on the demo chat channel (``chat.sandbox``, from the ``sandbox-chats`` periodic task)."""
SANDBOX_SEED = env.integer("SANDBOX_SEED", 0, minimum=0)
"""0 picks a random seed; any other value makes the sandbox's posts repeatable."""

COST_PER_AGENT_HOUR = env.number("COST_PER_AGENT_HOUR", 30.0, minimum=0.0)
"""What an hour of agent handling time costs (any currency), for the cost report."""
SHORT_ABANDON_SECONDS = env.number("SHORT_ABANDON_SECONDS", 0.0, minimum=0.0)
"""Abandons after a shorter wait are short abandons: reported, but left out of the abandonment figures."""
SERVICE_LEVEL_ABANDONS = env.choice("SERVICE_LEVEL_ABANDONS", "ignored", ("ignored", "met", "missed", "after_target"))
"""How the service level report treats abandoned conversations (README, "KPI definitions")."""
FCR_WINDOW_HOURS = env.number("FCR_WINDOW_HOURS", 72.0, minimum=0.0)
"""A resolution counts as first-contact when no reopen or new contact follows within this window."""
if FCR_WINDOW_HOURS > 8784:  # reporting.kpis.MAX_FCR_WINDOW_HOURS, a leap year
    raise ImproperlyConfigured(f"FCR_WINDOW_HOURS={FCR_WINDOW_HOURS} is above the maximum of 8784 (366 days).")
OUTBOX_MAX_ATTEMPTS = env.integer("OUTBOX_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
"""Temporary failures retried (with back-off) before a reply is marked failed."""
AGENT_HEARTBEAT_TIMEOUT_SECONDS = env.integer("AGENT_HEARTBEAT_TIMEOUT_SECONDS", 90, minimum=10)
"""An agent whose browser has been silent this long is set offline and their work re-routed."""

# --- Platforms ---------------------------------------------------------------------
CREDENTIALS_KEY = env.optional_text("CREDENTIALS_KEY")
"""Fernet key that encrypts social account credentials stored in the database.

Unset: derived from SECRET_KEY (so rotating SECRET_KEY makes stored
credentials unreadable; production should set its own key)."""
PLATFORM_TIMEOUT_SECONDS = env.number("PLATFORM_TIMEOUT_SECONDS", 10.0, minimum=1.0)
X_CONSUMER_SECRET = env.optional_text("X_CONSUMER_SECRET")
FACEBOOK_APP_SECRET = env.optional_text("FACEBOOK_APP_SECRET")
FACEBOOK_VERIFY_TOKEN = env.optional_text("FACEBOOK_VERIFY_TOKEN")
PLATFORM_CREDENTIALS: dict[str, dict[str, str]] = {
    "x": {
        key: value
        for key, value in {
            "bearer_token": env.optional_text("X_BEARER_TOKEN"),
            "consumer_key": env.optional_text("X_CONSUMER_KEY"),
            "consumer_secret": X_CONSUMER_SECRET,
            "access_token": env.optional_text("X_ACCESS_TOKEN"),
            "access_token_secret": env.optional_text("X_ACCESS_TOKEN_SECRET"),
        }.items()
        if value
    },
    "facebook": {
        key: value
        for key, value in {"page_access_token": env.optional_text("FACEBOOK_PAGE_ACCESS_TOKEN")}.items()
        if value
    },
}
"""Credentials from the environment, used by accounts with none stored in the admin."""

# --- Email as a channel (mailboxes are configured in the admin) ----------------------
EMAIL_MAX_MESSAGE_BYTES = env.integer("EMAIL_MAX_MESSAGE_BYTES", 30 * 1024 * 1024, minimum=65_536)
"""A message larger than this is refused whole (the pipe exits 65; IMAP leaves it unread and says so)."""
EMAIL_ATTACHMENT_MAX_BYTES = env.integer("EMAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
"""An attachment larger than this is not stored: its message is, with a note of the file that was dropped."""
EMAIL_REPLY_ATTACHMENT_MAX_BYTES = env.integer("EMAIL_REPLY_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
"""The most bytes an agent may attach to one email reply, all files together (the composer and the API)."""
EMAIL_REPLY_ATTACHMENT_MAX_FILES = env.integer("EMAIL_REPLY_ATTACHMENT_MAX_FILES", 10, minimum=0, maximum=100)
"""The most files an agent may attach to one email reply."""

# RFC 3834 5: automatic messages of ours (survey invitations, acknowledgements) to one address in 24 hours.
EMAIL_AUTO_REPLY_LIMIT_PER_DAY = env.integer("EMAIL_AUTO_REPLY_LIMIT_PER_DAY", 3, minimum=0)
# --- Web chat (chat channels are configured in the admin) -----------------------------
CHAT_VISITOR_TOKEN_MAX_AGE_DAYS = env.integer("CHAT_VISITOR_TOKEN_MAX_AGE_DAYS", 30, minimum=1, maximum=3650)
"""How long a visitor's token (kept by the widget) stays valid; an older one starts a new visitor."""
CHAT_IDENTITY_MAX_AGE_SECONDS = env.integer("CHAT_IDENTITY_MAX_AGE_SECONDS", 600, minimum=10, maximum=86_400)
"""How far an identity signature's timestamp may be from now and still verify (a replay window)."""
CHAT_MAX_FRAME_BYTES = env.integer("CHAT_MAX_FRAME_BYTES", 16 * 1024, minimum=1024, maximum=1024 * 1024)
"""The largest websocket frame a visitor may send; a larger one is refused with an error frame."""
CHAT_MAX_MESSAGE_CHARS = env.integer("CHAT_MAX_MESSAGE_CHARS", 2_000, minimum=100, maximum=100_000)
"""The longest chat message a visitor may send."""
CHAT_MESSAGES_PER_MINUTE = env.integer("CHAT_MESSAGES_PER_MINUTE", 30, minimum=1, maximum=10_000)
"""Messages (and left messages, transcripts) per minute per visitor and per IP address; more are refused."""
CHAT_ABANDON_AFTER_SECONDS = env.integer("CHAT_ABANDON_AFTER_SECONDS", 120, minimum=10, maximum=86_400)
"""A visitor gone this long before any agent answered: the chat is an abandon in the ledger."""
CHAT_TRANSCRIPTS_PER_HOUR = env.integer("CHAT_TRANSCRIPTS_PER_HOUR", 3, minimum=0, maximum=1_000)
"""Transcripts one visitor may have mailed per hour."""

EMAIL_BACKEND = env.text("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.text("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "switchboard@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "contactcenter.logsafety.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Every logger writes through the root's one handler, whose filter blanks credentials and query
        # strings' values (contactcenter/logsafety.py). These have handlers of their own otherwise, which
        # would write without it: uvicorn's (when started by its own command line: access lines carry each
        # request's query string) and Django's defaults (runserver's django.server, DEBUG's console).
        # Configuring a logger here removes the handlers it had.
        **{
            name: {"handlers": [], "propagate": True, "level": LOG_LEVEL}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
        },
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # These log credentials at DEBUG (request headers, token-bearing URLs): never below INFO.
        **{name: {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL} for name in CHATTY_LOGGERS},
    },
}
