"""Confining client key names to their namespace in the data Redis."""

from django.conf import settings
from django.utils.translation import gettext as _

from apps.api.errors import InvalidInput


def key_prefix(namespace: str) -> str:
    """Return the prefix that every data key of ``namespace`` starts with; it contains no glob characters."""
    return f"ns:{namespace}:"


def namespaced_key(namespace: str, key: str) -> str:
    """Return the Redis key for ``key`` in ``namespace``.

    Every data key is ``ns:{namespace}:{key}``. Namespace names cannot contain ":",
    so no key name, whatever characters it holds, can produce another namespace's
    prefix; the key text itself is stored verbatim.
    """
    if not key:
        raise InvalidInput(_("The key name must not be empty."), code="invalid_key")
    if len(key.encode()) > settings.REDGX_MAX_KEY_BYTES:
        raise InvalidInput(
            _("The key name is longer than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_KEY_BYTES},
            code="key_too_long",
        )
    return key_prefix(namespace) + key
