"""Pub/sub channel names in the data Redis.

A client's channel ``news`` in namespace ``alpha`` is the Redis channel ``ns:alpha:news``.
Data keys carry the namespace in braces as their cluster hash tag (``ns:{alpha}:news``).
Channels are not keys, so they keep the plain form. Other services may
publish to that Redis channel directly. Namespace names match ``[a-z0-9][a-z0-9_-]{0,62}``,
so the prefix contains no glob character. A client's pattern is appended after the prefix,
which Redis then matches literally: ``\\``, ``[`` and the other glob characters in the
client's part can only act on characters after the prefix, never reach another namespace.
"""

from django.conf import settings
from django.utils.translation import gettext as _

# Channel names that start with this are written by the gateway only: REST publishes to
# them are rejected, and clients may subscribe to them.
RESERVED_PREFIX = "$"
# Job status events of the namespace (apps/pubsub/events.py).
JOB_EVENTS_CHANNEL = "$jobs"


class InvalidName(ValueError):
    """A channel name or pattern that cannot be used; ``code`` is the stable error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def namespace_prefix(namespace: str) -> str:
    return f"ns:{namespace}:"


def is_reserved(channel: str) -> bool:
    return channel.startswith(RESERVED_PREFIX)


def redis_channel(namespace: str, channel: str) -> str:
    """Return the Redis channel of a client's channel name; raise InvalidName if it is unusable."""
    if not _is_usable(channel):
        raise InvalidName("invalid_channel", _("The channel name must be a non-empty string."))
    if _is_too_long(channel):
        raise InvalidName(
            "channel_too_long",
            _("The channel name is longer than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_KEY_BYTES},
        )
    return namespace_prefix(namespace) + channel


def redis_pattern(namespace: str, pattern: str) -> str:
    """Return the Redis pattern of a client's glob pattern; raise InvalidName if it is unusable."""
    if not _is_usable(pattern):
        raise InvalidName("invalid_pattern", _("The pattern must be a non-empty string."))
    if _is_too_long(pattern):
        raise InvalidName(
            "pattern_too_long",
            _("The pattern is longer than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_KEY_BYTES},
        )
    return namespace_prefix(namespace) + pattern


def client_name(redis_name: bytes) -> str:
    """Return the client's name for a Redis channel or pattern, without the namespace prefix.

    Names that other Redis clients published and that are not UTF-8 keep their other bytes
    as ``\\xNN`` escapes.
    """
    return redis_name.split(b":", 2)[2].decode("utf-8", errors="backslashreplace")


def _is_usable(name: object) -> bool:
    return isinstance(name, str) and bool(name)


def _is_too_long(name: str) -> bool:
    return len(name.encode()) > settings.REDGX_MAX_KEY_BYTES
