"""Production settings: the same as base, but required values have no defaults."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

_REQUIRED = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDGX_DATA_REDIS_URL",
    "REDGX_INFERENCE_REDIS_URL",
    "REDGX_STATIC_ROOT",
]
_missing = [name for name in _REQUIRED if not env.str(name, default="")]
if _missing:
    raise ImproperlyConfigured(f"Production settings need these environment variables: {', '.join(_missing)}")

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long.")

# Static files are collected at build time (collectstatic), not looked up per request.
WHITENOISE_USE_FINDERS = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Production serves browsers over HTTPS, so HSTS is on unless REDGX_TLS is set to false.
REDGX_TLS = env.bool("REDGX_TLS", default=True)
SECURE_HSTS_SECONDS = env.int("REDGX_HSTS_SECONDS", default=365 * 24 * 3600) if REDGX_TLS else 0
# X-Forwarded-Proto is trusted only when trusted proxies are configured: from anyone
# else the header is forged and would make plain HTTP pass for HTTPS.
if env.list("REDGX_TRUSTED_PROXIES", default=[]):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
