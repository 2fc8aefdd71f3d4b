"""evalhub settings: one module, read from the environment.

Embedded default: a SQLite file in the project folder, DEBUG on, a development secret.
Production (``EVALHUB_ENV=production``) refuses to start without a real ``SECRET_KEY`` and turns
on the secure-cookie / HSTS / SSL-redirect settings that ``manage.py check --deploy`` asks for.

Variables (see ``.env.example``): DATABASE_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS,
CSRF_TRUSTED_ORIGINS, EVALHUB_ENV, EVALHUB_ASSIGNMENT_TTL_SECONDS, EVALHUB_DATA_DIR.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


EVALHUB_ENV = os.environ.get("EVALHUB_ENV", "development")
PRODUCTION = EVALHUB_ENV == "production"

DEV_SECRET_KEY = "dev-insecure-evalhub-secret-key-change-me"  # noqa: S105 - refused in production
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        "EVALHUB_ENV=production refuses DEBUG=true (it leaks settings and data)."
    )
if (PRODUCTION or not DEBUG) and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "evalhub needs a real SECRET_KEY (50+ random characters) in the environment whenever it "
        "runs with EVALHUB_ENV=production or DEBUG off, e.g. "
        'python -c "import secrets; print(secrets.token_urlsafe(64))"'
    )
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

DATA_DIR = Path(os.environ.get("EVALHUB_DATA_DIR", BASE_DIR / "var"))

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
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets served locally (offline, CSP)
    "django_tasks",
    "django_tasks_db",
    "evalhub.apps.EvalhubConfig",
    "feedback.apps.FeedbackConfig",
    "training.apps.TrainingConfig",
    "labeling.apps.LabelingConfig",
    "assist.apps.AssistConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "evalhub.middleware.ContentSecurityPolicyMiddleware",
    "evalhub.middleware.ApiErrorShapeMiddleware",
    "evalhub.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "evalhub.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "evalhub.urls"
WSGI_APPLICATION = "evalhub.wsgi.application"
ASGI_APPLICATION = "evalhub.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "evalhub.views.context.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is configured for one web process beside one worker (shared/NOTES.md): WAL journal,
# IMMEDIATE transactions and a busy timeout, so a vote never meets "database is locked".
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
    # A file, not memory, so tests can run real worker and server processes against it.
    # One file per test process, so concurrent test runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"evalhub-test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # One test database per test process (concurrent runs on one server never collide).
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG  # serve app static files without collectstatic in development
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Uploads: imports are read into memory; refuse very large bodies with a clear 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("EVALHUB_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so an unauthenticated API call gets 401 with WWW-Authenticate: Token.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "evalhub.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_RATES": {"feedback": os.environ.get("FEEDBACK_THROTTLE_RATE", "600/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "evalhub API",
    "DESCRIPTION": (
        "Blind human evaluation of fine-tuned LLMs. Session auth for pages, token auth "
        "(`Authorization: Token <key>`) for products and scripts. Errors always have the shape "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation also documents the API's error answers (one shape: ApiError).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "evalhub.api.schema.add_error_responses",
    ],
}

# Content-Security-Policy of every HTML page (evalhub.middleware): scripts only from our static
# files (no inline script; data goes to scripts through json_script), no framing, no plugins.
EVALHUB_CSP = os.environ.get(
    "EVALHUB_CSP",
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'",
)

# --- Cache (permissions of hot API paths, rate limits) ---------------------------------------
# Per-process memory by default; with several processes or hosts set REDIS_URL so a role
# change is seen everywhere at once and rate limits are shared.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "evalhub"}
    )
}

# --- Background jobs (Django's task API; database-backed queue) -----------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- evalhub ----------------------------------------------------------------------------------
# How long a served comparison stays reserved for its rater before it is freed for others.
EVALHUB_ASSIGNMENT_TTL_SECONDS = int(os.environ.get("EVALHUB_ASSIGNMENT_TTL_SECONDS", 15 * 60))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# --- Production hardening (manage.py check --deploy) ----------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 30))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preload is a commitment for the whole domain (hard to undo): opt in with SECURE_HSTS_PRELOAD.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Reports of campaign kinds whose signals live in another app: kind -> "module.function(campaign)".
# evalhub reads them by path and never imports those apps (the dependency rule).
EVALHUB_REPORT_EXTENSIONS = {
    "thumbs": "feedback.reports.thumbs_report",
    "workbench": "feedback.reports.workbench_report",
}

# --- Generation (evalhub.services.generation) -----------------------------------------------
# Requests in flight at once per OpenAI-compatible endpoint, and the per-attempt timeout (s).
EVALHUB_GENERATION_CONCURRENCY = int(os.environ.get("EVALHUB_GENERATION_CONCURRENCY", 16))
EVALHUB_GENERATION_TIMEOUT = float(os.environ.get("EVALHUB_GENERATION_TIMEOUT", 120))
# The key a vLLM server started with --api-key expects ("EMPTY" when it has none).
EVALHUB_GENERATION_API_KEY = os.environ.get("EVALHUB_GENERATION_API_KEY", "EMPTY")
