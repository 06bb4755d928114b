"""Settings for every environment, read from environment variables.

Defaults suit a developer machine; `production.py` refuses to start without the
values that must never fall back to a default there.
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
RUN_DIR = BASE_DIR / ".run"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-local-development-key")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "apps.core",
    "apps.api",
    "apps.tenancy",
    "apps.data",
    "apps.inference",
    "apps.health",
]

MIDDLEWARE = [
    "apps.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "redgx_project.urls"
WSGI_APPLICATION = "redgx_project.wsgi.application"
# API routes take key names with or without a trailing slash, so none is added.
APPEND_SLASH = False

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{RUN_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("REDGX_LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("REDGX_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("REDGX_STATIC_ROOT", default=BASE_DIR / "staticfiles")

# Redis has two roles that may be two servers: the data areas, and the inference
# queues with their outbox. django-redis owns the connection pools of both.
REDGX_DATA_REDIS_URL = env.str("REDGX_DATA_REDIS_URL", default="redis://127.0.0.1:6379/0")
REDGX_INFERENCE_REDIS_URL = env.str("REDGX_INFERENCE_REDIS_URL", default="redis://127.0.0.1:6379/1")
REDGX_REDIS_SOCKET_TIMEOUT_S = env.float("REDGX_REDIS_SOCKET_TIMEOUT_S", default=5.0)


def _redis_cache(url: str) -> dict:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 2.0,
            "SOCKET_TIMEOUT": REDGX_REDIS_SOCKET_TIMEOUT_S,
            "CONNECTION_POOL_KWARGS": {"health_check_interval": 30, "max_connections": 200},
        },
    }


CACHES = {
    "default": _redis_cache(REDGX_INFERENCE_REDIS_URL),
    "data": _redis_cache(REDGX_DATA_REDIS_URL),
    "inference": _redis_cache(REDGX_INFERENCE_REDIS_URL),
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["apps.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.api.permissions.NamespaceGrantPermission"],
    "EXCEPTION_HANDLER": "apps.api.exceptions.envelope_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    # Rejects NaN and Infinity in request bodies; JSON has no such numbers.
    "STRICT_JSON": True,
}

# Request limits. A body over REDGX_MAX_BODY_BYTES gets 413 before it is read.
REDGX_MAX_BODY_BYTES = env.int("REDGX_MAX_BODY_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REDGX_MAX_BODY_BYTES
REDGX_MAX_KEY_BYTES = env.int("REDGX_MAX_KEY_BYTES", default=1024)
REDGX_MAX_VALUE_BYTES = env.int("REDGX_MAX_VALUE_BYTES", default=1024 * 1024)
# Operations one pipeline request may carry.
REDGX_MAX_PIPELINE_OPERATIONS = env.int("REDGX_MAX_PIPELINE_OPERATIONS", default=1000)
# Items (values, fields, members, keys) one request may carry or ask for.
REDGX_MAX_ITEMS_PER_REQUEST = env.int("REDGX_MAX_ITEMS_PER_REQUEST", default=1000)

# Blocking reads (queue pops, stream group reads) wait at most this long. Keep it well
# under gunicorn's worker timeout (60 s in deploy/gunicorn.conf.py).
REDGX_MAX_BLOCK_MS = env.int("REDGX_MAX_BLOCK_MS", default=25_000)
# A blocked request holds a web thread, so each process lets at most this many block at
# once and keeps the rest of its threads for other requests. The default leaves a
# quarter of gunicorn's threads (WEB_THREADS) free.
REDGX_MAX_BLOCKING_REQUESTS = env.int(
    "REDGX_MAX_BLOCKING_REQUESTS", default=max(1, env.int("WEB_THREADS", default=8) * 3 // 4)
)

# API key cache: a resolved key stays in process memory for this long at most.
# Changes reach every process at once through Redis pub/sub. The TTL limits the harm
# of a missed message, and it drops to 1 s while the listener is disconnected.
REDGX_KEY_CACHE_TTL_S = env.float("REDGX_KEY_CACHE_TTL_S", default=300.0)
REDGX_KEY_USAGE_FLUSH_S = env.float("REDGX_KEY_USAGE_FLUSH_S", default=30.0)

# Inference.
REDGX_DRAMATIQ_NAMESPACE = env.str("REDGX_DRAMATIQ_NAMESPACE", default="redgx")
REDGX_RESULT_TTL_S = env.int("REDGX_RESULT_TTL_S", default=3600)
# A job that never finishes is dropped after this long, so the outbox cannot grow without bound.
REDGX_JOB_TTL_S = env.int("REDGX_JOB_TTL_S", default=24 * 3600)
REDGX_MAX_QUEUED_JOBS = env.int("REDGX_MAX_QUEUED_JOBS", default=10_000)
REDGX_QUEUE_FULL_RETRY_AFTER_S = env.int("REDGX_QUEUE_FULL_RETRY_AFTER_S", default=5)
REDGX_JOB_MAX_RETRIES = env.int("REDGX_JOB_MAX_RETRIES", default=5)
REDGX_JOB_MIN_BACKOFF_MS = env.int("REDGX_JOB_MIN_BACKOFF_MS", default=500)
REDGX_JOB_MAX_BACKOFF_MS = env.int("REDGX_JOB_MAX_BACKOFF_MS", default=30_000)
# A worker silent this long counts as dead, and its unacknowledged messages go back to
# the queue. Keep it above the longest engine call: a worker whose threads are all busy
# sends no heartbeat, and a live worker taken for dead makes its jobs run twice.
REDGX_WORKER_HEARTBEAT_TIMEOUT_MS = env.int("REDGX_WORKER_HEARTBEAT_TIMEOUT_MS", default=60_000)
# How many broker commands in a million also look for dead workers (Dramatiq's default: 1000).
REDGX_BROKER_MAINTENANCE_CHANCE = env.int("REDGX_BROKER_MAINTENANCE_CHANCE", default=1000)

REDGX_EMBED_MAX_INPUTS = env.int("REDGX_EMBED_MAX_INPUTS", default=256)
REDGX_EMBED_MAX_INPUT_CHARS = env.int("REDGX_EMBED_MAX_INPUT_CHARS", default=8192)

# The embedding engine. Any server that speaks TEI's POST /embed works here.
REDGX_EMBED_ENGINE_URL = env.str("REDGX_EMBED_ENGINE_URL", default="http://127.0.0.1:8081")
REDGX_EMBED_BATCH_SIZE = env.int("REDGX_EMBED_BATCH_SIZE", default=32)
REDGX_EMBED_MAX_WAIT_MS = env.int("REDGX_EMBED_MAX_WAIT_MS", default=20)
REDGX_EMBED_TIMEOUT_S = env.float("REDGX_EMBED_TIMEOUT_S", default=30.0)
REDGX_EMBED_MAX_CONCURRENT_CALLS = env.int("REDGX_EMBED_MAX_CONCURRENT_CALLS", default=2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("REDGX_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
