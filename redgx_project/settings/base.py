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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "apps.core",
    "apps.api",
    "apps.tenancy",
    "apps.data",
    "apps.inference",
    "apps.health",
    "apps.pubsub",
    "apps.compat",
]

MIDDLEWARE = [
    "apps.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
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

# LocaleMiddleware picks each request's language from the admin's switcher (the django_language
# cookie), then from Accept-Language, and falls back to LANGUAGE_CODE, which must be one of
# LANGUAGES. Management commands and WebSocket frames always use LANGUAGE_CODE.
LANGUAGE_CODE = env.str("REDGX_LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("REDGX_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Folder that collectstatic fills in production. Unset, WhiteNoise serves the files from the apps.
STATIC_ROOT = env.str("REDGX_STATIC_ROOT", default="") or None
# WhiteNoise serves the admin's and the API docs' files from the web processes, so no
# page needs a CDN or a separate file server. Without collected files (STATIC_ROOT
# empty, as in development) it finds them in the apps instead.
WHITENOISE_USE_FINDERS = env.bool("REDGX_STATIC_USE_FINDERS", default=True)

# Redis has two roles that may be two servers: the data areas, and the inference
# queues with their outbox. django-redis owns the connection pools of both.
REDGX_DATA_REDIS_URL = env.str("REDGX_DATA_REDIS_URL", default="redis://127.0.0.1:6379/0")
REDGX_INFERENCE_REDIS_URL = env.str("REDGX_INFERENCE_REDIS_URL", default="redis://127.0.0.1:6379/1")
REDGX_REDIS_SOCKET_TIMEOUT_S = env.float("REDGX_REDIS_SOCKET_TIMEOUT_S", default=5.0)


def _redis_cache(url: str, **pool_options) -> dict:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 2.0,
            "SOCKET_TIMEOUT": REDGX_REDIS_SOCKET_TIMEOUT_S,
            "CONNECTION_POOL_KWARGS": {"health_check_interval": 30, "max_connections": 200, **pool_options},
        },
    }


# The data areas read raw replies. RESP2 gives them one shape everywhere, the same shape
# Lua scripts see (atomic pipelines); redis-py 8 would otherwise negotiate RESP3.
REDGX_DATA_REDIS_PROTOCOL = 2
# The data role is a Redis Cluster reached from the node REDGX_DATA_REDIS_URL names, which
# must then use database 0. Each namespace's keys share one hash slot, so a namespace is
# the unit that the cluster spreads over its nodes.
REDGX_DATA_REDIS_CLUSTER = env.bool("REDGX_DATA_REDIS_CLUSTER", default=False)

CACHES = {
    "default": _redis_cache(REDGX_INFERENCE_REDIS_URL),
    "data": _redis_cache(REDGX_DATA_REDIS_URL, protocol=REDGX_DATA_REDIS_PROTOCOL),
    "inference": _redis_cache(REDGX_INFERENCE_REDIS_URL),
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["apps.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.api.permissions.NamespaceGrantPermission"],
    "EXCEPTION_HANDLER": "apps.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.api.schema.OperationAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    # Rejects NaN and Infinity in request bodies; JSON has no such numbers.
    "STRICT_JSON": True,
}

# The OpenAPI schema at /docs/schema.json and Swagger UI at /docs/ (apps/api/schema.py).
# Both are public: the schema lists routes and shapes, never namespaces or keys.
SPECTACULAR_SETTINGS = {
    "TITLE": "RedGX API",
    "DESCRIPTION": (
        "Redis data areas and inference jobs behind API keys. Every response body is the JSON "
        'envelope: `{"ok": true, "data": ...}` or `{"ok": false, "error": {"code", "message"}}`. '
        "Each route serves several operations: pick one with the HTTP method and the `op` query parameter."
    ),
    "VERSION": "v1",
    "SCHEMA_PATH_PREFIX": r"/api/v1/ns/\{namespace\}",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Without drf-spectacular's enum hook, choices stay inline: areas reuse field names such as
    # "side" with different choices, which the hook would report as naming collisions.
    "POSTPROCESSING_HOOKS": ["apps.api.schema.finish_schema"],
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Swagger UI comes from the installed drf-spectacular-sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # validatorUrl null stops Swagger UI from sending the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "deepLinking": True, "persistAuthorization": False},
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

# Upstash-compatible API (/compat/upstash/ns/{namespace}): accept the API key in the
# `_token` query parameter too. Off by default, because URLs end up in access logs.
REDGX_UPSTASH_ALLOW_TOKEN_PARAM = env.bool("REDGX_UPSTASH_ALLOW_TOKEN_PARAM", default=False)

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

# Pub/Sub: publish over REST, subscribe over WebSocket (docs/pubsub.md). WebSocket clients
# connect to a separate ASGI process (uvicorn), because the REST API stays on gunicorn.
ASGI_APPLICATION = "redgx_project.asgi.application"
# The pub/sub consumers use no channel layer: messages reach every ASGI process through Redis
# pub/sub on the data Redis, and key revocations through the key cache's invalidation channel.
# The layer is here for Channels features that need one, such as group sends.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDGX_INFERENCE_REDIS_URL], "prefix": "redgx:asgi:"},
    },
}
# Largest message a client may publish (413 above it). Larger messages that other Redis
# clients publish directly are not delivered, and subscribers get an error frame instead.
REDGX_PUBSUB_MAX_MESSAGE_BYTES = env.int("REDGX_PUBSUB_MAX_MESSAGE_BYTES", default=64 * 1024)
# Frames waiting to be sent to one WebSocket client, bounded in count and in bytes. A client
# that falls further behind is disconnected with close code 4429.
REDGX_PUBSUB_SEND_BUFFER_FRAMES = env.int("REDGX_PUBSUB_SEND_BUFFER_FRAMES", default=5000)
REDGX_PUBSUB_SEND_BUFFER_BYTES = env.int("REDGX_PUBSUB_SEND_BUFFER_BYTES", default=2 * 1024 * 1024)
# Channels plus patterns one WebSocket connection may subscribe to.
REDGX_PUBSUB_MAX_SUBSCRIPTIONS = env.int("REDGX_PUBSUB_MAX_SUBSCRIPTIONS", default=100)
# How long an ASGI process keeps its WebSocket clients connected while it reconnects to the
# data Redis. Past this, it closes them with code 4503 so that they reconnect.
REDGX_PUBSUB_REDIS_GRACE_S = env.float("REDGX_PUBSUB_REDIS_GRACE_S", default=10.0)
# Lifetime of a WebSocket ticket (single use), in seconds.
REDGX_WS_TICKET_TTL_S = env.int("REDGX_WS_TICKET_TTL_S", default=30)

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
