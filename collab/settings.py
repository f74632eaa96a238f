"""Settings for the collaborative editor.

The default run needs nothing external: SQLite in WAL mode and the in-memory channel
layer. ``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` to channels-redis.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated setting from the environment."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no setting from the environment."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Debug only when asked for (./run.sh asks): a deployment that forgets the variable
# must not serve debug pages.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-when-DJANGO_SECRET_KEY-is-unset"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# The WebSocket origin check trusts ALLOWED_HOSTS, so a wildcard would admit any site.
if not DEBUG and any("*" in host for host in ALLOWED_HOSTS):
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name hosts; '*' is refused outside debug")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 31_536_000))
    # Both commit the whole domain, not only this site, so each is opt-in.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
    # check --deploy asks for both; left off by choice, they are not warnings here.
    SILENCED_SYSTEM_CHECKS = [
        check
        for check, enabled in (
            ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
            ("security.W021", SECURE_HSTS_PRELOAD),
        )
        if not enabled
    ]
    # Probes and scrapers talk to each process directly, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "axes",
    "editor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ (hashed names with immutable caching outside debug) unless
    # COLLAB_SERVE_STATIC=0; removed below in that case.
    "collab.static.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its answer.
    "axes.middleware.AxesMiddleware",
]

# Every script and style comes from this site's own files: no inline code, no other
# origin. The editor's socket is same-origin ('self' covers ws: and wss: in CSP 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Sign-in throttling (django-axes): after COLLAB_LOGIN_FAILURE_LIMIT wrong passwords
# for one username from one address, that pair is refused (HTTP 429, with a message)
# for COLLAB_LOGIN_COOLOFF_MINUTES, even with the right password, and no password is
# hashed meanwhile. A success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
COLLAB_LOGIN_FAILURE_LIMIT = int(os.environ.get("COLLAB_LOGIN_FAILURE_LIMIT", 5))
COLLAB_LOGIN_COOLOFF_MINUTES = float(os.environ.get("COLLAB_LOGIN_COOLOFF_MINUTES", 15))
AXES_FAILURE_LIMIT = COLLAB_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=COLLAB_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

ROOT_URLCONF = "collab.urls"
ASGI_APPLICATION = "collab.asgi.application"
WSGI_APPLICATION = None

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
                "editor.web.context_processors.features",
            ],
        },
    },
]

# Persistent connections leak under ASGI: every request runs in a fresh thread.
CONN_MAX_AGE = 0

COLLAB_DB_POOL_MAX_SIZE = int(os.environ.get("COLLAB_DB_POOL_MAX_SIZE", 0))
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=CONN_MAX_AGE)}
    # One test database per test run, so two runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    # With COLLAB_DB_POOL_MAX_SIZE > 0, HTTP requests borrow connections from a pool
    # instead of opening one each; the sockets' database thread keeps one of them. At
    # most that many per process: keep it times the number of processes under the
    # server's max_connections (docs/deploy.md). Off by default: code that runs the ORM
    # straight from async tasks (the test suite) keeps a connection per task.
    if COLLAB_DB_POOL_MAX_SIZE > 0 and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "pool": {"min_size": 0, "max_size": COLLAB_DB_POOL_MAX_SIZE, "timeout": 10},
        }
else:
    # Acked means durable: FULL syncs the write-ahead log at every commit, so an op the
    # server acknowledged survives a power loss or an OS crash. The hub commits a batch of
    # ops in one transaction, so that is one sync per batch, not per op. NORMAL (sync only
    # at checkpoints) is faster and still safe against a crash of the process alone.
    SQLITE_SYNCHRONOUS = os.environ.get("COLLAB_SQLITE_SYNCHRONOUS", "FULL").upper()
    if SQLITE_SYNCHRONOUS not in {"FULL", "NORMAL", "EXTRA"}:
        raise ImproperlyConfigured("COLLAB_SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("COLLAB_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "OPTIONS": {
                # IMMEDIATE takes the write lock when a transaction begins, so two
                # writers queue on busy_timeout instead of failing to upgrade a read
                # lock with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    f"PRAGMA journal_mode=WAL;PRAGMA synchronous={SQLITE_SYNCHRONOUS};PRAGMA busy_timeout=20000;"
                ),
            },
            # A file, not memory: the tests' daphne processes open the same database.
            # One per test run, so two runs on one machine do not share it.
            "TEST": {
                "NAME": os.environ.get("COLLAB_SQLITE_TEST_PATH")
                or str(Path(tempfile.gettempdir()) / f"collab-test-{os.getpid()}.sqlite3")
            },
        }
    }

# An empty REDIS_URL means no Redis.
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            # A test hook (tests/faults/faulty_layer.py) may stand in for channels-redis.
            "BACKEND": os.environ.get("COLLAB_TEST_CHANNEL_LAYER") or "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [os.environ["REDIS_URL"]],
                "prefix": os.environ.get("COLLAB_REDIS_PREFIX", "collab"),
                "capacity": 1000,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes the hashed files that daphne (ServeStatic) or nginx serves.
STATIC_ROOT = Path(os.environ.get("COLLAB_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Outside debug, hashed names (run collectstatic); in debug the files as they are,
    # straight from editor/static, so ./run.sh needs no collectstatic.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "collab.storage.HashedStaticStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- the editor's limits (docs/protocol.md lists them) ---------------------------
# Largest WebSocket frame in either direction, in bytes; daphne is started with the
# same value as --websocket-max-message-size.
COLLAB_MAX_FRAME_BYTES = int(os.environ.get("COLLAB_MAX_FRAME_BYTES", 1024 * 1024))
# Largest document, in code points.
COLLAB_MAX_DOCUMENT_CHARS = int(os.environ.get("COLLAB_MAX_DOCUMENT_CHARS", 2_000_000))
# Most components in one op.
COLLAB_MAX_COMPONENTS = int(os.environ.get("COLLAB_MAX_COMPONENTS", 100))
# Ops per second per connection (token bucket refill) and the burst it allows.
COLLAB_OPS_PER_SECOND = float(os.environ.get("COLLAB_OPS_PER_SECOND", 50))
COLLAB_OPS_BURST = int(os.environ.get("COLLAB_OPS_BURST", 100))
# Joins per second per connection (token bucket refill) and the burst it allows: a
# join costs a role check, a catch-up and a message to every peer.
COLLAB_JOINS_PER_SECOND = float(os.environ.get("COLLAB_JOINS_PER_SECOND", 1))
COLLAB_JOINS_BURST = int(os.environ.get("COLLAB_JOINS_BURST", 5))
# Code points one user may insert per second on one server process (token bucket
# refill), and the burst it allows (at least COLLAB_MAX_INSERT_CHARS, so every op that
# fits in one can pass): bounds how fast one person can grow the stored history.
COLLAB_INSERT_CHARS_PER_SECOND = float(os.environ.get("COLLAB_INSERT_CHARS_PER_SECOND", 5_000))
COLLAB_INSERT_CHARS_BURST = int(os.environ.get("COLLAB_INSERT_CHARS_BURST", 1_000_000))
# Bytes of stored ops one document's history may hold (0: no bound); past it, ops that
# insert text are refused as too_large until an operator compacts the history.
COLLAB_HISTORY_MAX_BYTES = int(os.environ.get("COLLAB_HISTORY_MAX_BYTES", 256 * 1024 * 1024))
# Most code points one op may insert.
COLLAB_MAX_INSERT_CHARS = int(os.environ.get("COLLAB_MAX_INSERT_CHARS", 500_000))
# Open sockets one user may hold on one server process.
COLLAB_MAX_SOCKETS_PER_USER = int(os.environ.get("COLLAB_MAX_SOCKETS_PER_USER", 20))
# Refused messages within COLLAB_ABUSE_WINDOW seconds before a connection is closed
# (4400 for bad messages, 4429 for rate-limited ops).
COLLAB_ABUSE_LIMIT = int(os.environ.get("COLLAB_ABUSE_LIMIT", 50))
COLLAB_ABUSE_WINDOW = float(os.environ.get("COLLAB_ABUSE_WINDOW", 10))
# Bytes queued for a client that is not reading before its socket is dropped.
COLLAB_MAX_BACKLOG_BYTES = int(os.environ.get("COLLAB_MAX_BACKLOG_BYTES", 8 * 1024 * 1024))
# Seconds between checks that a socket's session is still signed in.
COLLAB_SESSION_CHECK_SECONDS = float(os.environ.get("COLLAB_SESSION_CHECK_SECONDS", 30))
# Whether daphne serves /static/ itself (turn off when a web server in front does).
COLLAB_SERVE_STATIC = env_bool("COLLAB_SERVE_STATIC", True)
if not COLLAB_SERVE_STATIC:
    MIDDLEWARE.remove("collab.static.StaticFilesMiddleware")
# Seconds /healthz waits for the database and for the channel layer before it
# answers 503 (see docs/deploy.md).
COLLAB_HEALTH_TIMEOUT_SECONDS = float(os.environ.get("COLLAB_HEALTH_TIMEOUT_SECONDS", 2))
# Seconds a daphne process given SIGTERM waits for commits in flight and for its
# sockets to close (each is sent 1012) before it stops regardless.
COLLAB_SHUTDOWN_GRACE_SECONDS = float(os.environ.get("COLLAB_SHUTDOWN_GRACE_SECONDS", 10))
# Bearer token that /metrics requires; when empty, only loopback clients may read it.
COLLAB_METRICS_TOKEN = os.environ.get("COLLAB_METRICS_TOKEN", "")
# Whether people may create their own accounts at /accounts/signup/.
# Off unless asked for: an open sign-up lets anyone spend the server's budgets.
COLLAB_SIGNUP_ENABLED = env_bool("COLLAB_SIGNUP_ENABLED", False)
# How many revisions one catch-up reads from the database per query (and the rebase
# of an op far behind the head, ahead of its commit).
COLLAB_CATCHUP_BATCH = 500
# A document's text is stored whole every this many revisions (a snapshot); the
# revisions since the last snapshot are replayed to read it.
COLLAB_SNAPSHOT_EVERY = int(os.environ.get("COLLAB_SNAPSHOT_EVERY", 100))
# The text at every this many revisions is kept for reading history (a checkpoint):
# the text at any past revision replays at most this many revisions.
COLLAB_CHECKPOINT_EVERY = int(os.environ.get("COLLAB_CHECKPOINT_EVERY", 1000))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"editor": {"level": os.environ.get("COLLAB_LOG_LEVEL", "INFO")}},
}
