"""
HeroChecklist settings: one module, every value from the environment.

With no environment at all this runs in development mode (SQLite and generated secrets under var/, tasks eager).
Production sets DEBUG=false and the checks in core/checks.py refuse to start on an unsafe configuration.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from cryptography.fernet import Fernet

from core.sentry import init_sentry

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)
TESTING = env.bool("HEROCHECKLIST_TESTING", default=False)


def _dev_secret(name: str, make) -> str:
    """A development-only secret, generated once and kept in var/ so restarts keep sessions and encrypted data."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


# Production must provide these; development falls back to generated files (never to a constant in source).
SECRET_KEY = env.str("SECRET_KEY", default="") or (
    _dev_secret("dev-secret-key", lambda: secrets.token_urlsafe(50)) if DEBUG else ""
)
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or (
    [_dev_secret("dev-field-key", lambda: Fernet.generate_key().decode())] if DEBUG else []
)
# Django refuses an empty SECRET_KEY before our checks can name it; keep a marker the checks recognise instead.
SECRET_KEY_MISSING = not SECRET_KEY
if SECRET_KEY_MISSING:
    SECRET_KEY = "django-insecure-missing-secret-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
APP_KEY = env.str("APP_KEY", default="io.herochecklist.dev")
APP_NAME = env.str("APP_NAME", default="HeroChecklist")
RELEASE = env.str("RELEASE", default="dev")
ENVIRONMENT = env.str("ENVIRONMENT", default="development" if DEBUG else "production")

# External services: every base URL is a setting so tests and `make run` point them at local stand-ins.
ATLASSIAN_INSTALL_KEYS_URL = env.str("ATLASSIAN_INSTALL_KEYS_URL", default="https://connect-install-keys.atlassian.com")
FORGE_JWKS_URL = env.str("FORGE_JWKS_URL", default="https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json")
FORGE_JWKS_REFRESH_COOLDOWN_SECONDS = env.float("FORGE_JWKS_REFRESH_COOLDOWN_SECONDS", default=30.0)
# /readyz runs its probes at most this often per process (core.health.recent_checks); 0 runs them on every call.
READYZ_CACHE_SECONDS = env.float("READYZ_CACHE_SECONDS", default=0.0 if TESTING else 2.0)
# Connect install keys: trusted for hours, then fetched again (a key Atlassian revokes stops being trusted); a kid
# Atlassian does not know is remembered as unknown, and after any failed fetch no unknown kid is fetched for a while,
# so unauthenticated installs with made-up kids cannot turn into one request to Atlassian each.
ATLASSIAN_INSTALL_KEY_CACHE_SECONDS = env.float("ATLASSIAN_INSTALL_KEY_CACHE_SECONDS", default=6 * 3600.0)
ATLASSIAN_INSTALL_KEY_MISS_SECONDS = env.float("ATLASSIAN_INSTALL_KEY_MISS_SECONDS", default=600.0)
ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS = env.float("ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS", default=10.0)
# The per-process cache of rendered item Markdown (checklists/rendering.py): bounded by memory, then by entries.
MARKDOWN_CACHE_MAX_BYTES = env.int("MARKDOWN_CACHE_MAX_BYTES", default=32 * 1024 * 1024)
MARKDOWN_CACHE_MAX_ENTRIES = env.int("MARKDOWN_CACHE_MAX_ENTRIES", default=20_000)
FORGE_APP_ID = env.str("FORGE_APP_ID", default="ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000")
# Hosts a tenant baseUrl may have (defence in depth on install). The local stand-in adds 127.0.0.1 through env.
ALLOWED_JIRA_HOSTS = env.list("ALLOWED_JIRA_HOSTS", default=["*.atlassian.net", "*.jira.com", "*.jira-dev.com"])
# Origins allowed to frame our Jira pages, besides Atlassian's own (the local stand-in in development).
EXTRA_FRAME_ANCESTORS = env.list("EXTRA_FRAME_ANCESTORS", default=["http://127.0.0.1:8001"] if DEBUG else [])
ATLASSIAN_ALL_JS_URL = env.str("ATLASSIAN_ALL_JS_URL", default="https://connect-cdn.atl-paas.net/all.js")
MARKETPLACE_API_URL = env.str("MARKETPLACE_API_URL", default="https://marketplace.atlassian.com")
HUBSPOT_BASE_URL = env.str("HUBSPOT_BASE_URL", default="https://api.hubapi.com")
HUBSPOT_ACCESS_TOKEN = env.str("HUBSPOT_ACCESS_TOKEN", default="")
# Calls per rolling window for the whole HubSpot account: its limit (100 per 10 s on Free/Starter, 190 on Professional
# and Enterprise), less what other integrations of the account use. The limiter holds each call's slot until its answer
# (contacts/ratelimit.py), so the whole limit is safe to use.
HUBSPOT_RATE_LIMIT = env.int("HUBSPOT_RATE_LIMIT", default=100)
HUBSPOT_RATE_WINDOW_SECONDS = env.float("HUBSPOT_RATE_WINDOW_SECONDS", default=10.0)
HUBSPOT_RATE_LIMIT_KEY = env.str("HUBSPOT_RATE_LIMIT_KEY", default="hubspot")  # one per HubSpot account
HUBSPOT_ONBOARDING_LIST_ID = env.str("HUBSPOT_ONBOARDING_LIST_ID", default="")
HUBSPOT_SYNC_RETRY_BASE_SECONDS = env.float("HUBSPOT_SYNC_RETRY_BASE_SECONDS", default=5.0)
MARKETPLACE_VENDOR_ID = env.str("MARKETPLACE_VENDOR_ID", default="")
MARKETPLACE_ACCOUNT_EMAIL = env.str("MARKETPLACE_ACCOUNT_EMAIL", default="")
MARKETPLACE_API_TOKEN = env.str("MARKETPLACE_API_TOKEN", default="")
# Licenses asked for per page of the reporting API: 1 to 50, its own maximum (core/checks.py, E007).
MARKETPLACE_PAGE_SIZE = env.int("MARKETPLACE_PAGE_SIZE", default=50)
# EMAIL_URL (smtp://user:pass@host:587, consolemail://, ...) sets EMAIL_BACKEND, EMAIL_HOST and the rest;
# file:///some/dir writes each message to a file there (used by tests that watch a separate worker process).
_EMAIL_URL = env.str("EMAIL_URL", default="consolemail://")
# A claimed email not marked sent after this long is taken to be a dead sender's (a killed worker) and sent again.
EMAIL_CLAIM_STALE_SECONDS = env.int("EMAIL_CLAIM_STALE_SECONDS", default=600)
if _EMAIL_URL.startswith("file://"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = _EMAIL_URL.removeprefix("file://")
else:
    globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="HeroChecklist <hello@herochecklist.invalid>")
SENTRY_DSN = env.str("SENTRY_DSN", default="")
JWT_LEEWAY_SECONDS = env.int("JWT_LEEWAY_SECONDS", default=30)
PANEL_TOKEN_TTL_SECONDS = env.int("PANEL_TOKEN_TTL_SECONDS", default=900)
OUTBOUND_TIMEOUT_SECONDS = env.float("OUTBOUND_TIMEOUT_SECONDS", default=10.0)
# The most one outbound exchange may take, all of it (core/outbound.py): the timeout above bounds each wait on the
# socket, so a server trickling a byte a second would otherwise hold the call for as long as it liked. Background work
# (the property push, the Marketplace poll, personal data reporting) gets OUTBOUND_DEADLINE_SECONDS per exchange; a
# key fetch that a user's request (an install, a Forge call) waits on gets the short one.
OUTBOUND_DEADLINE_SECONDS = env.float("OUTBOUND_DEADLINE_SECONDS", default=30.0)
OUTBOUND_KEYS_DEADLINE_SECONDS = env.float("OUTBOUND_KEYS_DEADLINE_SECONDS", default=5.0)
# The forward proxy every outbound HTTP call (Jira, Atlassian's keys, the Marketplace, HubSpot, Sentry) goes through:
# http(s)://[user:password@]host[:port], empty for none (core/proxy.py; core/checks.py, E008, refuses anything else).
# HTTP_PROXY, HTTPS_PROXY and NO_PROXY are never read. SMTP is not HTTP and goes out directly.
OUTBOUND_PROXY_URL = env.str("OUTBOUND_PROXY_URL", default="")
# Progress property writes to Jira wait this long so a burst of edits becomes one write.
PROGRESS_SYNC_DELAY_SECONDS = env.float("PROGRESS_SYNC_DELAY_SECONDS", default=2.0)
PROGRESS_SYNC_RETRY_BASE_SECONDS = env.float("PROGRESS_SYNC_RETRY_BASE_SECONDS", default=5.0)
# The progress sweep (Celery beat) re-queues every checklist whose property is behind its version: how often, how
# long after a change it leaves the write's own push alone, how far back it looks, and how many per run.
PROGRESS_SWEEP_INTERVAL_SECONDS = env.int("PROGRESS_SWEEP_INTERVAL_SECONDS", default=300)
PROGRESS_SWEEP_GRACE_SECONDS = env.int("PROGRESS_SWEEP_GRACE_SECONDS", default=120)
PROGRESS_SWEEP_MAX_AGE_DAYS = env.int("PROGRESS_SWEEP_MAX_AGE_DAYS", default=7)
PROGRESS_SWEEP_BATCH = env.int("PROGRESS_SWEEP_BATCH", default=1000)
# A checklist whose push Jira refused for good is swept again no sooner than this, after every other one behind.
PROGRESS_SWEEP_FAILED_RETRY_SECONDS = env.int("PROGRESS_SWEEP_FAILED_RETRY_SECONDS", default=3600)
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
# Conditional reads (If-None-Match, an open panel's live polling) count here instead, per site and user and minute,
# so a visible panel (one a second) never eats its user's budget of writes and reads (checklists/live.py).
API_POLL_RATE_PER_MINUTE = env.int("API_POLL_RATE_PER_MINUTE", default=240)
# Authorization (tenants/permissions.py): Jira's answer to "may this user edit this issue / administer this project /
# administer Jira" is kept in the shared cache this long (capped at 5 minutes: a revoked right stops working by then).
# An unanswered question (Jira down, slow, or refusing us) means read-only, remembered this long so a Jira outage
# does not turn every panel request into one more outbound call; the check itself gives up after its own timeout.
PERMISSION_CACHE_SECONDS = min(env.int("PERMISSION_CACHE_SECONDS", default=300), 300)
PERMISSION_FAILURE_CACHE_SECONDS = min(env.int("PERMISSION_FAILURE_CACHE_SECONDS", default=10), 300)
PERMISSION_CHECK_TIMEOUT_SECONDS = env.float("PERMISSION_CHECK_TIMEOUT_SECONDS", default=3.0)

# Databases: SQLite by default, MongoDB when DATABASE_URL says so (see README for the replica-set string).
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
USE_MONGODB = DATABASE_URL.startswith(("mongodb://", "mongodb+srv://"))
if USE_MONGODB:
    from pymongo.uri_parser import parse_uri as _parse_mongo_uri

    DATABASES = {
        "default": {
            "ENGINE": "django_mongodb_backend",
            "HOST": DATABASE_URL,
            "NAME": _parse_mongo_uri(DATABASE_URL)["database"] or "herochecklist",
        }
    }
    DATABASE_ROUTERS = ["django_mongodb_backend.routers.MongoRouter"]
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
    # Contrib apps use AutoField; on MongoDB they get ObjectId keys and their own committed migrations.
    MIGRATION_MODULES = {
        "admin": "herochecklist.mongo_migrations.admin",
        "auth": "herochecklist.mongo_migrations.auth",
        "contenttypes": "herochecklist.mongo_migrations.contenttypes",
        "otp_totp": "herochecklist.mongo_migrations.otp_totp",
        "otp_static": "herochecklist.mongo_migrations.otp_static",
        "axes": "herochecklist.mongo_migrations.axes",
    }
    _CONTRIB_APPS = [
        "herochecklist.mongo_apps.MongoAdminConfig",
        "herochecklist.mongo_apps.MongoAuthConfig",
        "herochecklist.mongo_apps.MongoContentTypesConfig",
    ]
    _SECURITY_APPS = [
        "django_otp",
        "herochecklist.mongo_apps.MongoTOTPConfig",
        "herochecklist.mongo_apps.MongoStaticConfig",
        "herochecklist.mongo_apps.MongoAxesConfig",
    ]
else:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Writers queue for the lock up front instead of failing half-way with "database is locked".
        # WAL: readers never wait for a writer, and a commit appends to the log instead of rewriting pages;
        # synchronous=NORMAL then syncs at checkpoints only (a power cut may lose the last commits, never corrupt).
        DATABASES["default"]["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
        if TESTING:
            # A file, not memory: Celery workers and threads in the tests open the same test database. Named after
            # the database, so two runs against different files (two checkouts' worth of work on one machine) never
            # share, and delete, each other's test database.
            stem = Path(str(DATABASES["default"]["NAME"])).stem or "db"
            DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{stem}.sqlite3")}
    # A connection kept across requests (Django's default opens one per request): opening one cost more than the
    # two queries of a checklist read. The MongoDB backend keeps its client pool whatever this says.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    _SECURITY_APPS = ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static", "axes"]
    _CONTRIB_APPS = ["herochecklist.apps.HeroAdminConfig", "django.contrib.auth", "django.contrib.contenttypes"]

INSTALLED_APPS = [
    *_CONTRIB_APPS,
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *_SECURITY_APPS,
    "core",
    "staff",
    "tenants",
    "checklists",
    "contacts",
    "operations",
]

# The edge: every request passes these. /api/ needs nothing more (its own credentials, no session); core.edge's
# AdminStackMiddleware, last, runs ADMIN_MIDDLEWARE for every other path (issue #21: a read paid for all of them).
MIDDLEWARE = [
    "core.metrics.MetricsMiddleware",
    "core.middleware.RequestContextMiddleware",
    "core.middleware.ApiHeadMiddleware",  # outside the rest: it drops the body of the GET they answered
    "core.middleware.ApiErrorMiddleware",
    "core.middleware.BodyLimitMiddleware",
    "core.middleware.QueryLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.storage.StaticFilesMiddleware",  # WhiteNoise, its listing of STATIC_ROOT kept per process
    "core.middleware.SecurityHeadersMiddleware",
    "core.middleware.ApiGZipMiddleware",
    "django.middleware.common.CommonMiddleware",  # the ALLOWED_HOSTS check
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.edge.AdminStackMiddleware",
]
ADMIN_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "staff.otp.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# The admin's and django-axes' checks look for their middleware in MIDDLEWARE only; ADMIN_MIDDLEWARE holds them.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "axes.W002"]

# The admin console (see README "Admin console"): two factors through django-otp on the admin site, lockout after
# repeated failures (wrong password or wrong one-time code) through django-axes, keyed on username and address.
# On SecantusDB (the tests' MongoDB stand-in) a workaround replaces ModelBackend: see staff/secantus.py.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "staff.secantus.SecantusPermissionBackend"
    if TESTING and USE_MONGODB
    else "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
AXES_CLIENT_IP_CALLABLE = "staff.audit.client_network"  # an IPv6 caller counted per /64
AXES_VERBOSE = False
# What a failed sign-in stores of its form (AccessAttempt.post_data, shown on the attempts' admin pages): never the
# password (django-axes masks it) nor the one-time code, which may be a recovery code still unused, a second factor
# that works until someone signs in with it.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "otp_device", "otp_challenge"]
# Proxies in front of the app that append to X-Forwarded-For; 0 means REMOTE_ADDR is the client (audit, lockout).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default=APP_NAME)
ADMIN_SESSION_AGE_SECONDS = env.int("ADMIN_SESSION_AGE_SECONDS", default=8 * 3600)
SESSION_COOKIE_AGE = ADMIN_SESSION_AGE_SECONDS

ROOT_URLCONF = "herochecklist.urls"
WSGI_APPLICATION = "herochecklist.wsgi.application"
ASGI_APPLICATION = "herochecklist.asgi.application"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Fingerprinted, compressed static files in production; plain files in development and tests.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "core.storage.StaticStorage"
    },
}

# Backups (operations/backup.py): a local folder by default; any Django storage (an S3-compatible bucket through
# django-storages, installed separately) with BACKUP_STORAGE_BACKEND and BACKUP_STORAGE_OPTIONS (JSON).
BACKUP_DIR = env.str("BACKUP_DIR", default=str(VAR_DIR / "backups"))
# How long `manage.py restore` runs its transaction again while another holds the same records: a restore killed
# mid-write leaves its transaction open on MongoDB until transactionLifetimeLimitSeconds (60 s by default) runs out.
RESTORE_BUSY_WAIT_SECONDS = env.float("RESTORE_BUSY_WAIT_SECONDS", default=90.0)
BACKUP_STORAGE_BACKEND = env.str("BACKUP_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
STORAGES["backups"] = {
    "BACKEND": BACKUP_STORAGE_BACKEND,
    "OPTIONS": env.json("BACKUP_STORAGE_OPTIONS", default={})
    or (
        {"location": BACKUP_DIR, "file_permissions_mode": 0o600}
        if BACKUP_STORAGE_BACKEND.endswith("FileSystemStorage")
        else {}
    ),
}
# Archives are encrypted with the first key and read with any (rotation); by default the field encryption keys,
# since an archive is useless without them anyway (the secrets inside are encrypted with them).
BACKUP_ENCRYPTION_KEYS = env.list("BACKUP_ENCRYPTION_KEYS", default=[]) or FIELD_ENCRYPTION_KEYS
BACKUP_DAILY_KEEP_DAYS = env.int("BACKUP_DAILY_KEEP_DAYS", default=8)
BACKUP_WEEKLY_KEEP_WEEKS = env.int("BACKUP_WEEKLY_KEEP_WEEKS", default=8)
# Uninstalled sites keep their data this long (a reinstall within it restores access), then it is purged.
TENANT_PURGE_AFTER_DAYS = env.int("TENANT_PURGE_AFTER_DAYS", default=90)
# django-axes' records of staff sign-ins (username, address, browser) are deleted after this many days (0: kept).
STAFF_SIGN_IN_RECORD_DAYS = env.int("STAFF_SIGN_IN_RECORD_DAYS", default=90)
# After a purge, its deletion runs once more this much later: rows a write on its way stored meanwhile go too.
TENANT_PURGE_LEFTOVERS_DELAY_SECONDS = env.int("TENANT_PURGE_LEFTOVERS_DELAY_SECONDS", default=900)
# Atlassian personal data reporting (operations/privacy.py): reached through one installed site (Connect JWT or
# Forge token).
PERSONAL_DATA_REPORT_PATH = env.str("PERSONAL_DATA_REPORT_PATH", default="/app/report-accounts/")
PERSONAL_DATA_DEFAULT_CYCLE_HOURS = env.float("PERSONAL_DATA_DEFAULT_CYCLE_HOURS", default=7 * 24)
# Monitoring (core/metrics.py): /metrics answers only with this bearer token (404 when unset).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
APDEX_THRESHOLD_SECONDS = env.float("APDEX_THRESHOLD_SECONDS", default=0.3)
# What the browser reports (the panel's timing beacon): its Apdex T (the network and rendering come on top of the
# server's time), and how many beacons one user of one site may send per minute (more answer 429).
CLIENT_APDEX_THRESHOLD_SECONDS = env.float("CLIENT_APDEX_THRESHOLD_SECONDS", default=1.0)
CLIENT_TIMING_RATE_PER_MINUTE = env.int("CLIENT_TIMING_RATE_PER_MINUTE", default=30)

# Shared by every web node and worker when Redis is configured (rate limits, sync debouncing); per process otherwise.
CACHE_URL = env.str("CACHE_URL", default="")
# A dead cache must answer within a second or two, not after the OS gives up on the connection (minutes).
CACHE_TIMEOUT_SECONDS = env.float("CACHE_TIMEOUT_SECONDS", default=2.0)
# After a call to the cache Redis times out or cannot connect, each process skips it this long (core/breaker.py):
# a hung cache costs one timeout per process and period, not one per call. 0 turns the breaker off.
CACHE_BREAKER_SECONDS = env.float("CACHE_BREAKER_SECONDS", default=5.0)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {
            "socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
            "socket_timeout": CACHE_TIMEOUT_SECONDS,
            "pool_class": "core.breaker.GuardedConnectionPool",  # skips a cache that timed out, for a while
        },
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "herochecklist"},
}

# Each process caches the tenant rows its requests read for at most this long (tenants/selectors.py). With CACHE_URL
# every process forgets a row as soon as a write to it commits (published on the cache Redis; a process that cannot
# hear Redis keeps nothing), so this is a backstop for a write whose message was lost. Without CACHE_URL other
# processes may use an uninstalled or disabled site's row (or its old secret) this long.
TENANT_CACHE_SECONDS = env.int("TENANT_CACHE_SECONDS", default=10)

# Request bodies: the API enforces its own per-field limits; this is the outer guard (413 beyond it).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1_048_576)

# Security headers. HSTS only where TLS is in front of us (production), for a year as Atlassian requires.
SECURE_HSTS_SECONDS = 0 if DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Celery: without REDIS_URL tasks run eagerly in-process, so `make run` needs nothing else.
REDIS_URL = env.str("REDIS_URL", default="")
# The HubSpot rate limiter's shared log; without Redis, a per-process one (fine for one eager process).
RATE_LIMIT_REDIS_URL = env.str("RATE_LIMIT_REDIS_URL", default="") or REDIS_URL
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# Eager tasks behave as on a worker: retries run, and a failing task never breaks the request that queued it.
CELERY_TASK_EAGER_PROPAGATES = False
# One queue name per deployment (or test run) so workers never take another one's tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="herochecklist")
CELERY_TASK_ACKS_LATE = True
# No task's outcome is read back, so none is stored: a failed task's result is its exception and traceback, kept in
# the broker's Redis for a day (result_expires), unscrubbed, where no log or Sentry scrubber reaches.
CELERY_TASK_IGNORE_RESULT = True
# A task that was running when its worker died is handed out again after this long (keep it above the longest task).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)


# A broker that stops answering (a Redis frozen, replies dropped on the way) must fail a publish within seconds: the
# transport waited on its socket with no timeout, so a write's after-commit queueing held the user's answer, and the
# web worker, for as long as the broker stayed hung. A publish is tried twice (CELERY_TASK_PUBLISH_RETRY_POLICY), so a
# write waits about twice this at worst before its push is left to the sweep. Above the workers' BRPOP (1 s).
BROKER_TIMEOUT_SECONDS = env.float("BROKER_TIMEOUT_SECONDS", default=2.0)


def broker_transport_options(visibility_timeout: int) -> dict:
    return {
        "visibility_timeout": visibility_timeout,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        # kombu looks for such tasks only every interval x throttle seconds (10 x 10 by default), so a dead worker's
        # task could wait 100 s past its timeout; one cheap Redis range query every 10 s at most (a fifth of a short
        # timeout).
        "unacked_restore_interval": max(1, min(10, visibility_timeout // 5)),
        "unacked_restore_throttle": 1,
        # The lock a worker holds while it hands such tasks out again: a worker killed while holding it left every
        # worker of this Redis unable to restore anything until it expired, 300 s by default, far past a short
        # timeout. Never longer than the timeout (a message is restored once however many workers restore at once:
        # kombu restores each in a transaction on the unacked hash).
        "unacked_mutex_expire": max(1, min(300, visibility_timeout)),
    }


CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_VISIBILITY_TIMEOUT)
# One retry of a failed publish, not Celery's three: the retry is what reconnects after a broker restart dropped the
# pooled connection; against a hung broker each try costs a whole BROKER_TIMEOUT_SECONDS of the user's write (four
# tries held it 10 s, two hold it 5). A push not queued is the sweep's.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The daily and hourly tasks at fixed times (crontab, UTC), not every so many seconds: beat counts an interval from
# its own start when it has no schedule file to read (a new container, a rebuilt host), so a beat restarted more often
# than a day (a deploy a day) never ran a 24-hour one (tests/operations/test_beat_schedule.py).
CELERY_BEAT_SCHEDULE = {
    # Daily at 03:17 UTC (https://crontab.guru/#17_3_*_*_*): new and changed licenses from the Marketplace.
    "marketplace-poll": {"task": "contacts.tasks.marketplace_poll_task", "schedule": crontab(hour=3, minute=17)},
    # Every 5 minutes: push contacts still pending (new, changed, or whose earlier push failed transiently).
    "hubspot-sync": {"task": "contacts.tasks.hubspot_sync_task", "schedule": 300},
    # Every 15 minutes: onboarding and offboarding emails due whose task was lost (broker down, retries exhausted).
    "contact-email-sweep": {"task": "contacts.tasks.contact_email_sweep_task", "schedule": 900},
    # Daily at 02:07 UTC: a backup, then pruning by the retention policy (8 daily, 8 weekly from Saturdays).
    "backup": {"task": "operations.tasks.backup_task", "schedule": crontab(hour=2, minute=7)},
    # Daily at 04:37 UTC (after the backup): purge sites uninstalled longer than TENANT_PURGE_AFTER_DAYS ago.
    "tenant-purge": {"task": "tenants.tasks.tenant_purge_expired_task", "schedule": crontab(hour=4, minute=37)},
    # Daily at 04:47 UTC: staff sign-in records older than STAFF_SIGN_IN_RECORD_DAYS go.
    "staff-sign-in-records": {
        "task": "operations.tasks.staff_sign_in_records_prune_task",
        "schedule": crontab(hour=4, minute=47),
    },
    # Hourly at :23: report stored accountIds that are due (each at most once per Cycle-Period) and act on the answers.
    "personal-data-report": {"task": "operations.tasks.personal_data_report_task", "schedule": crontab(minute=23)},
    # Every minute: the heartbeat that tells monitoring beat and a worker are alive (core/metrics.py).
    "heartbeat": {"task": "operations.tasks.heartbeat_task", "schedule": 60},
    # Every few minutes: progress properties behind their checklist (a lost push: broker, Jira, exhausted retries).
    "progress-sweep": {
        "task": "checklists.tasks.checklist_progress_sweep_task",
        "schedule": PROGRESS_SWEEP_INTERVAL_SECONDS,
    },
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every task's limits, unless it sets its own: the backup, the purge and the Marketplace poll run for minutes by design.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# Django's error page (DEBUG) and error reports (AdminEmailHandler, anything built by its ExceptionReporter): a setting,
# header, form field or variable holding anything our log scrubber takes out shows as stars, DEBUG or not
# (core/reporting.py). Django's own filter goes by names only and misses the credentials inside our URLs.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.reporting.ScrubbingReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "core.reporting.ScrubbingExceptionReporter"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logging.JSONFormatter"}},
    "filters": {"context": {"()": "core.logging.RequestContextFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # runserver's access log carries query strings (panel JWTs): same scrubbing JSON handler as the rest.
        "django.server": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django_mongodb_backend": {"level": "WARNING"},
    },
}

if SENTRY_DSN:
    init_sentry(dsn=SENTRY_DSN, release=RELEASE, environment=ENVIRONMENT, proxy_url=OUTBOUND_PROXY_URL)
