"""Settings for every environment, read from environment variables.

Defaults suit a developer machine; `production.py` refuses to start without the
values that must never fall back to a default there.
"""

from datetime import timedelta
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
    "apps.audit",
    "apps.adminapi",
    "apps.access",
    "axes",
    "django_prometheus",
    "apps.metrics",
]

MIDDLEWARE = [
    # First, so request counts and latencies include every other middleware. It also serves
    # /metrics, before CommonMiddleware checks the Host header.
    "apps.metrics.middleware.MetricsMiddleware",
    # Early, so that it times and records every API request, including those rejected below it.
    "apps.api.middleware.AccessMiddleware",
    "apps.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session, CSRF, auth and messages middleware, skipped on /api/ and /compat/
    # paths, which use none of them (apps/api/browser_middleware.py).
    "apps.api.browser_middleware.SessionMiddlewareOutsideApi",
    # Django's LocaleMiddleware, without its language-prefix lookups on API paths.
    "apps.api.locale.ApiLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.api.browser_middleware.CsrfViewMiddlewareOutsideApi",
    "apps.api.browser_middleware.AuthenticationMiddlewareOutsideApi",
    "apps.audit.middleware.AuditActorMiddleware",
    "apps.api.browser_middleware.MessageMiddlewareOutsideApi",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication, as django-axes requires: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
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
    "DEFAULT_PARSER_CLASSES": ["apps.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.api.negotiation.EnvelopeContentNegotiation",
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

# Per-key request limits for keys whose quota policy leaves a field empty and when no
# default policy exists (apps.tenancy.models.QuotaPolicy). Rate in requests per second;
# burst in requests.
REDGX_RATE_PER_S = env.float("REDGX_RATE_PER_S", default=50.0)
REDGX_RATE_BURST = env.int("REDGX_RATE_BURST", default=100)

# Blocking reads (queue pops, stream group reads) wait at most this long. Keep it under
# the 30 s a stopping web worker gets to finish its requests (deploy/web.py).
REDGX_MAX_BLOCK_MS = env.int("REDGX_MAX_BLOCK_MS", default=25_000)
# A blocked request holds a web thread, so each process lets at most this many block at
# once and keeps the rest of its threads for other requests. The default leaves a
# quarter of the web server's threads (WEB_THREADS, deploy/web.py) free.
REDGX_MAX_BLOCKING_REQUESTS = env.int(
    "REDGX_MAX_BLOCKING_REQUESTS", default=max(1, env.int("WEB_THREADS", default=3) * 3 // 4)
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
REDGX_QUEUE_FULL_RETRY_AFTER_S = env.int("REDGX_QUEUE_FULL_RETRY_AFTER_S", default=5)
# Attempts count engine calls, and a transient error (timeout, 429, 5xx) spends one.
# Deliveries count how often a worker took the job. A worker killed or stuck mid-call
# spends no attempt, but its lease expires. After REDGX_JOB_MAX_DELIVERIES expired
# leases the job ends failed with code delivery_limit, so it cannot loop forever.
REDGX_JOB_MAX_ATTEMPTS = env.int("REDGX_JOB_MAX_ATTEMPTS", default=6)
REDGX_JOB_MAX_DELIVERIES = env.int("REDGX_JOB_MAX_DELIVERIES", default=5)
# Retry backoff: full jitter, uniform in [0, min(max, min * 2**(attempt - 1))].
REDGX_JOB_MIN_BACKOFF_MS = env.int("REDGX_JOB_MIN_BACKOFF_MS", default=500)
REDGX_JOB_MAX_BACKOFF_MS = env.int("REDGX_JOB_MAX_BACKOFF_MS", default=30_000)
# Deadline of a job whose submit names none; a job past it is never sent to an engine.
REDGX_JOB_DEFAULT_DEADLINE_S = env.int("REDGX_JOB_DEFAULT_DEADLINE_S", default=3600)
# A lease covers one engine call: the engine's timeout_s for each request the client
# splits the call into, plus this margin. A worker that holds a job past its lease loses
# it to the sweeper, and its late result is discarded.
REDGX_JOB_LEASE_MARGIN_S = env.float("REDGX_JOB_LEASE_MARGIN_S", default=10.0)
# How often each worker process renews the leases of jobs waiting in its batcher, looks
# for expired leases and deadlines (one process at a time), and checks the registry version.
REDGX_SWEEP_INTERVAL_S = env.float("REDGX_SWEEP_INTERVAL_S", default=1.0)
# Circuit breaker per engine: this many transient failures in a row open it, and while it
# is open one worker probes GET /health every REDGX_ENGINE_PROBE_INTERVAL_S.
REDGX_ENGINE_FAILURE_THRESHOLD = env.int("REDGX_ENGINE_FAILURE_THRESHOLD", default=5)
REDGX_ENGINE_PROBE_INTERVAL_S = env.float("REDGX_ENGINE_PROBE_INTERVAL_S", default=5.0)
# Dramatiq carries only wake-up messages; the jobs themselves live in our own Redis lists.
# A worker silent this long counts as dead, and Dramatiq sends its unacknowledged wake-ups again.
REDGX_WORKER_HEARTBEAT_TIMEOUT_MS = env.int("REDGX_WORKER_HEARTBEAT_TIMEOUT_MS", default=60_000)
# How many broker commands in a million also look for dead workers (Dramatiq's default: 1000).
REDGX_BROKER_MAINTENANCE_CHANCE = env.int("REDGX_BROKER_MAINTENANCE_CHANCE", default=1000)

REDGX_EMBED_MAX_INPUTS = env.int("REDGX_EMBED_MAX_INPUTS", default=2048)
REDGX_EMBED_MAX_INPUT_CHARS = env.int("REDGX_EMBED_MAX_INPUT_CHARS", default=8192)

# Engines used when the registry (admin, Inference > Engine endpoints) has no enabled
# endpoint for a task; an empty URL means the task has no engine until one is registered.
# A call goes out when batch_size items have gathered or max_wait_ms after the first of
# them, and at once while the engine has no call in flight.
# embed: any server with TEI's POST /embed, such as TEI itself.
REDGX_EMBED_ENGINE_URL = env.str("REDGX_EMBED_ENGINE_URL", default="http://127.0.0.1:8081")
REDGX_EMBED_BATCH_SIZE = env.int("REDGX_EMBED_BATCH_SIZE", default=32)
REDGX_EMBED_MAX_WAIT_MS = env.int("REDGX_EMBED_MAX_WAIT_MS", default=20)
REDGX_EMBED_TIMEOUT_S = env.float("REDGX_EMBED_TIMEOUT_S", default=30.0)
REDGX_EMBED_MAX_CONCURRENT_CALLS = env.int("REDGX_EMBED_MAX_CONCURRENT_CALLS", default=2)
# generate: an OpenAI-compatible server such as vLLM; protocol openai_completions or openai_chat.
REDGX_GENERATE_ENGINE_URL = env.str("REDGX_GENERATE_ENGINE_URL", default="")
REDGX_GENERATE_ENGINE_PROTOCOL = env.str("REDGX_GENERATE_ENGINE_PROTOCOL", default="openai_completions")
REDGX_GENERATE_MODEL = env.str("REDGX_GENERATE_MODEL", default="")
REDGX_GENERATE_BATCH_SIZE = env.int("REDGX_GENERATE_BATCH_SIZE", default=16)
REDGX_GENERATE_MAX_WAIT_MS = env.int("REDGX_GENERATE_MAX_WAIT_MS", default=20)
REDGX_GENERATE_TIMEOUT_S = env.float("REDGX_GENERATE_TIMEOUT_S", default=120.0)
REDGX_GENERATE_MAX_CONCURRENT_CALLS = env.int("REDGX_GENERATE_MAX_CONCURRENT_CALLS", default=8)
# translate: RedGX's own JSON protocol (POST /translate).
REDGX_TRANSLATE_ENGINE_URL = env.str("REDGX_TRANSLATE_ENGINE_URL", default="")
REDGX_TRANSLATE_BATCH_SIZE = env.int("REDGX_TRANSLATE_BATCH_SIZE", default=16)
REDGX_TRANSLATE_MAX_WAIT_MS = env.int("REDGX_TRANSLATE_MAX_WAIT_MS", default=20)
REDGX_TRANSLATE_TIMEOUT_S = env.float("REDGX_TRANSLATE_TIMEOUT_S", default=60.0)
REDGX_TRANSLATE_MAX_CONCURRENT_CALLS = env.int("REDGX_TRANSLATE_MAX_CONCURRENT_CALLS", default=2)
# stt: OpenAI-style POST /v1/audio/transcriptions, one file per call.
REDGX_STT_ENGINE_URL = env.str("REDGX_STT_ENGINE_URL", default="")
REDGX_STT_MODEL = env.str("REDGX_STT_MODEL", default="")
REDGX_STT_TIMEOUT_S = env.float("REDGX_STT_TIMEOUT_S", default=300.0)
REDGX_STT_MAX_CONCURRENT_CALLS = env.int("REDGX_STT_MAX_CONCURRENT_CALLS", default=4)
# ocr: RedGX's own JSON protocol (POST /ocr), one document per call.
REDGX_OCR_ENGINE_URL = env.str("REDGX_OCR_ENGINE_URL", default="")
REDGX_OCR_TIMEOUT_S = env.float("REDGX_OCR_TIMEOUT_S", default=120.0)
REDGX_OCR_MAX_CONCURRENT_CALLS = env.int("REDGX_OCR_MAX_CONCURRENT_CALLS", default=4)
# Seconds to wait for an engine's TCP connection, for every task's default engine.
REDGX_ENGINE_CONNECT_TIMEOUT_S = env.float("REDGX_ENGINE_CONNECT_TIMEOUT_S", default=5.0)

# Inference task limits. Past a size limit the submit returns 413 naming the field.
# generate: characters of the prompt or of all messages together, messages per chat,
# and the highest max_tokens a request may ask for.
REDGX_GENERATE_MAX_PROMPT_CHARS = env.int("REDGX_GENERATE_MAX_PROMPT_CHARS", default=32_768)
REDGX_GENERATE_MAX_MESSAGES = env.int("REDGX_GENERATE_MAX_MESSAGES", default=64)
REDGX_GENERATE_MAX_TOKENS = env.int("REDGX_GENERATE_MAX_TOKENS", default=4096)
# max_tokens for a request that leaves it out (vLLM's own default for completions is 16).
REDGX_GENERATE_DEFAULT_MAX_TOKENS = env.int("REDGX_GENERATE_DEFAULT_MAX_TOKENS", default=256)
REDGX_TRANSLATE_MAX_TEXTS = env.int("REDGX_TRANSLATE_MAX_TEXTS", default=128)
REDGX_TRANSLATE_MAX_TEXT_CHARS = env.int("REDGX_TRANSLATE_MAX_TEXT_CHARS", default=5000)
# Decoded bytes of one audio file or document. A base64 JSON body is also bound by
# REDGX_MAX_BODY_BYTES, so large files go as multipart uploads. 25 MiB is OpenAI's own
# limit for /v1/audio/transcriptions.
REDGX_STT_MAX_AUDIO_BYTES = env.int("REDGX_STT_MAX_AUDIO_BYTES", default=25 * 1024 * 1024)
REDGX_OCR_MAX_DOCUMENT_BYTES = env.int("REDGX_OCR_MAX_DOCUMENT_BYTES", default=20 * 1024 * 1024)
# Largest JSON body the worker sends to a TEI engine in one /embed call. TEI's
# --payload-limit defaults to 2,000,000 bytes; set this to the engine's value.
REDGX_TEI_PAYLOAD_LIMIT_BYTES = env.int("REDGX_TEI_PAYLOAD_LIMIT_BYTES", default=2_000_000)

# Pub/Sub: publish over REST, subscribe over WebSocket (docs/pubsub.md). WebSocket clients
# connect to a separate ASGI process (uvicorn), because the REST API stays on WSGI.
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

# Admin hardening. REDGX_TLS means that browsers reach the gateway over HTTPS (directly or
# through a TLS-terminating proxy); it turns on Secure cookies and HSTS.
REDGX_TLS = env.bool("REDGX_TLS", default=False)
SESSION_COOKIE_SECURE = REDGX_TLS
CSRF_COOKIE_SECURE = REDGX_TLS
SESSION_COOKIE_HTTPONLY = True
# The admin reads the CSRF token from its forms, so no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Browsers ignore HSTS over plain HTTP, and sending it from a server that has no HTTPS
# would lock clients out, so it follows REDGX_TLS.
SECURE_HSTS_SECONDS = env.int("REDGX_HSTS_SECONDS", default=365 * 24 * 3600) if REDGX_TLS else 0

# django-axes locks an admin login out after REDGX_ADMIN_LOGIN_FAILURES failed attempts
# for the same user name from the same client address, for REDGX_ADMIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("REDGX_ADMIN_LOGIN_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("REDGX_ADMIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address as audit rows: the socket peer unless a trusted proxy sent the request.
AXES_CLIENT_IP_CALLABLE = "apps.audit.source.source_address"

# Client address, access history and connected clients (docs/security.md).
# Networks (CIDR) of reverse proxies whose X-Forwarded-For is believed. Empty: the socket
# peer is always the client address.
REDGX_TRUSTED_PROXIES = env.list("REDGX_TRUSTED_PROXIES", default=[])
# Seconds between access history writes of each process.
REDGX_ACCESS_FLUSH_S = env.float("REDGX_ACCESS_FLUSH_S", default=2.0)
# Rows one process buffers while the database is unreachable; past this the oldest are dropped.
REDGX_ACCESS_BUFFER_MAX = env.int("REDGX_ACCESS_BUFFER_MAX", default=100_000)
# Days of access history that `manage.py purgeaccesshistory` keeps.
REDGX_ACCESS_RETENTION_DAYS = env.int("REDGX_ACCESS_RETENTION_DAYS", default=90)
# Seconds between heartbeats of a WebSocket process's connected-clients entry in the
# inference Redis; the entry expires after three missed heartbeats.
REDGX_WS_CLIENTS_HEARTBEAT_S = env.float("REDGX_WS_CLIENTS_HEARTBEAT_S", default=5.0)
# The admin API's clients view lists keys seen within this many seconds.
REDGX_CLIENTS_RECENT_S = env.int("REDGX_CLIENTS_RECENT_S", default=300)

# Inference API. Jobs waiting per task and per namespace (an API key's quota policy may
# set its own namespace limit); past a limit a submit returns 429 queue_full.
REDGX_MAX_QUEUED_JOBS_PER_TASK = env.int("REDGX_MAX_QUEUED_JOBS_PER_TASK", default=10_000)
REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE = env.int("REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE", default=2_000)
# Fraction of the inference Redis's maxmemory above which submits return 503
# inference_redis_full. Not checked when the server has no maxmemory.
REDGX_INFERENCE_MEMORY_HIGH_WATER = env.float("REDGX_INFERENCE_MEMORY_HIGH_WATER", default=0.9)
# Highest deadline_s a submit may ask for, in seconds.
REDGX_JOB_MAX_DEADLINE_S = env.int("REDGX_JOB_MAX_DEADLINE_S", default=24 * 3600)
# Longest ?wait= of a status request, in seconds. A waiting request holds a web thread
# and a blocking slot, so keep it under the 30 s a stopping web worker gets (deploy/web.py).
REDGX_MAX_WAIT_S = env.int("REDGX_MAX_WAIT_S", default=20)
# How long an Idempotency-Key returns the req_id of its first submit, in seconds.
REDGX_IDEMPOTENCY_TTL_S = env.int("REDGX_IDEMPOTENCY_TTL_S", default=24 * 3600)

# Inference counters (job outcomes, engine batches, rejections, queue depths) are kept
# this long, in 5 s buckets, for the metrics API and the admin dashboard's charts.
REDGX_STATS_RETENTION_S = env.int("REDGX_STATS_RETENTION_S", default=3600)

# Prometheus metrics (apps/metrics, docs/operations.md). GET /metrics of the web process
# answers only requests sent straight from these networks (addresses or CIDR blocks) and
# 404 to anyone else, including every request forwarded by a proxy.
REDGX_METRICS_ALLOWED_NETWORKS = env.list("REDGX_METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# Address and port of the metrics server of a worker started with apps.metrics.worker.
REDGX_WORKER_METRICS_HOST = env.str("REDGX_WORKER_METRICS_HOST", default="127.0.0.1")
REDGX_WORKER_METRICS_PORT = env.int("REDGX_WORKER_METRICS_PORT", default=9191)
PROMETHEUS_EXPORT_MIGRATIONS = False
# django-prometheus's database backends are Django's own plus query counters and timings.
_PROMETHEUS_DB_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_DB_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)

# The web server puts the process environment into every request's META (apps/core/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "apps.core.reporting.RequestOnlyExceptionReporterFilter"

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
