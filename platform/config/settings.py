"""Settings for Sagittal, read from the environment with safe defaults.

Without any environment the platform runs embedded: SQLite and a filesystem Celery broker under
``var/``. Production sets ``DEBUG=0``, ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL``
(PostgreSQL through psycopg 3) and ``CELERY_BROKER_URL`` (Redis or RabbitMQ); see
docs/operations.md.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from config.paths import REPO_ROOT, add_source_roots

add_source_roots()

BASE_DIR = REPO_ROOT
VAR_DIR = Path(env_str("SAGITTAL_VAR_DIR", str(REPO_ROOT / "var")))

DEBUG = env_bool("DEBUG", False)

# A development key is only acceptable while DEBUG is on; production must bring its own.
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off (production) Sagittal refuses to start "
            "without a secret key: set SECRET_KEY to a long random string, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    SECRET_KEY = _DEV_SECRET_KEY

# Pseudonyms, UID remapping and date shifts derive from this secret: the same patient maps to
# the same pseudonym across uploads and workers, and nobody without it can reverse or predict
# the mapping. Changing it splits every patient in two; production sets it once, explicitly.
DEIDENTIFICATION_SECRET = env_str("DEIDENTIFICATION_SECRET")
if not DEIDENTIFICATION_SECRET:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DEIDENTIFICATION_SECRET is not set. With DEBUG off Sagittal refuses to start "
            "without it: set it once to a long random string and never change it."
        )
    DEIDENTIFICATION_SECRET = "dev-only-deidentification-secret"  # noqa: S105

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

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
    "accounts",
    "cases",
    "ops",
    "inference",
    "readerstudy",
    "viewer",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [REPO_ROOT / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_DEFAULT_SQLITE = VAR_DIR / "sagittal.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{_DEFAULT_SQLITE}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker are separate processes: wait for the write lock
    # instead of failing, and keep the test database on disk so a worker can reach it.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-sagittal.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- Language and time -----------------------------------------------------------------------
# The language follows the user's saved preference, else the browser's Accept-Language
# (accounts.middleware.UserPreferencesMiddleware after Django's LocaleMiddleware). Catalogues are
# locale/<lang>/LC_MESSAGES/django.po (and djangojs.po), compiled by `manage.py
# compile_catalogues` (pure Python, no GNU gettext), which `make run` and `make test` run.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [REPO_ROOT / "locale"]
USE_I18N = True
FORMAT_MODULE_PATH = ["config.formats"]
# Times are stored in UTC and shown in the user's time zone, else the site's.
TIME_ZONE = env_str("SAGITTAL_TIME_ZONE", "Asia/Tokyo")
if TIME_ZONE not in zoneinfo.available_timezones():
    raise ImproperlyConfigured(
        f"SAGITTAL_TIME_ZONE={TIME_ZONE!r} is not an IANA time zone name (e.g. Asia/Tokyo, UTC)"
    )
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# WhiteNoise serves STATIC_ROOT (filled by collectstatic) and warns while it does not exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [REPO_ROOT / "frontend" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    # Images are stored through this backend: a directory by default, S3-compatible storage
    # (django-storages) when STORAGE_BACKEND=storages.backends.s3.S3Storage and the AWS_* /
    # AWS_S3_ENDPOINT_URL variables are set.
    "default": {
        "BACKEND": env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Image uploads (browser upload and STOW-RS): a request above this size is refused with 413
# before its body is read; ZIP archives are checked against their entry count and declared
# uncompressed size before anything is extracted.
SAGITTAL_MAX_UPLOAD_BYTES = env_int("SAGITTAL_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024)
SAGITTAL_ZIP_MAX_ENTRIES = env_int("SAGITTAL_ZIP_MAX_ENTRIES", 10_000)
SAGITTAL_ZIP_MAX_UNCOMPRESSED_BYTES = env_int(
    "SAGITTAL_ZIP_MAX_UNCOMPRESSED_BYTES", 4 * 1024 * 1024 * 1024
)
# DICOMweb frame reads (production server): how long a worker answers frame requests of a study
# that Django has just allowed for the same credentials and headers without running Django
# again (0: every request goes through Django); see cases.dicomweb_fast.
DICOMWEB_ACCESS_CACHE_SECONDS = env_int("DICOMWEB_ACCESS_CACHE_SECONDS", 5)

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    # Production sits behind a TLS-terminating proxy (nginx) that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a failed token check answers 401 with WWW-Authenticate, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: every endpoint opts into what it allows.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.NulFreeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sagittal API",
    "DESCRIPTION": "Reader-study platform for spine imaging.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The docs page loads Swagger UI from our static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------
# The embedded default needs no server: kombu's filesystem transport under var/.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
# Job state lives on our own rows (InferenceJob, ...); a result backend is optional.
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_EVENT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: a long training job must not hold others hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_GPU_QUEUE = "gpu"
CELERY_TASK_QUEUES: dict[str, dict[str, str]] = {
    CELERY_TASK_DEFAULT_QUEUE: {},
    CELERY_GPU_QUEUE: {},
}
# The hard limit kills a stuck task; the soft limit, below it, lets the task record its failure.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 4 * 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - 300)
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_SOFT_TIME_LIMIT ({CELERY_TASK_SOFT_TIME_LIMIT}) must be positive and "
        f"below CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT})"
    )
# Redis redelivers an unacknowledged message after the visibility timeout: it must exceed the
# hard limit or a long job still running would be started a second time.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(_broker_dir / "queue"),
        data_folder_out=str(_broker_dir / "queue"),
        processed_folder=str(_broker_dir / "processed"),
        control_folder=str(_broker_dir / "control"),
    )
CELERY_TIMEZONE = "UTC"

# --- Inference ----------------------------------------------------------------------------
# Checkpoints of registered models: trained by our own commands, never downloaded from a hub;
# each is verified against the sha256 recorded in the registry before it is loaded.
SAGITTAL_MODELS_DIR = Path(env_str("SAGITTAL_MODELS_DIR", str(VAR_DIR / "models")))
# A running job writes a heartbeat this often; one silent for INFERENCE_STALE_AFTER_SECONDS is
# presumed lost with its worker and retried (or failed after INFERENCE_MAX_ATTEMPTS claims).
INFERENCE_HEARTBEAT_SECONDS = env_int("INFERENCE_HEARTBEAT_SECONDS", 10)
INFERENCE_STALE_AFTER_SECONDS = env_int("INFERENCE_STALE_AFTER_SECONDS", 120)
INFERENCE_MAX_ATTEMPTS = env_int("INFERENCE_MAX_ATTEMPTS", 3)
# torch threads per worker process (0: torch's default, one per core). Scale CPU workers with
# processes (--concurrency) rather than threads: on a CPU shared with the web server and other
# workers, spin-waiting OpenMP threads made sampling ten times slower (27 s vs 271 s measured).
INFERENCE_TORCH_THREADS = env_int("INFERENCE_TORCH_THREADS", 1)
CELERY_BEAT_SCHEDULE = {
    "inference-reap-stale-jobs": {"task": "inference.reap_stale_jobs", "schedule": 60.0},
}

# --- Reader-study exports -------------------------------------------------------------------
# A worker builds a study's XLSX and CSV ZIP this long after a change (readings arrive in
# bursts; one build covers a burst), so a coordinator's download is a file read.
READERSTUDY_EXPORT_DELAY_SECONDS = env_int("READERSTUDY_EXPORT_DELAY_SECONDS", 10)

# --- Demo -----------------------------------------------------------------------------------
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "sagittal-demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # highdicom narrates every attribute it copies at INFO.
    "loggers": {"highdicom": {"level": "WARNING"}},
}
