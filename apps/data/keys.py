"""Confining client key names to their namespace in the data Redis.

Every data key is ``ns:{<namespace>}:<key>``. The braces make the namespace the key's
Redis Cluster hash tag: only the text between them decides the slot, so all keys of a
namespace land in one slot and multi-key commands (set algebra, LMOVE, MGET, XREAD over
several streams, the atomic pipeline's script) work on a cluster as on one server.
Everything that builds, matches or strips a data key's prefix goes through this module.
"""

import re

from django.conf import settings
from django.utils.translation import gettext as _

from apps.api.errors import InvalidInput
from apps.tenancy.models import NAMESPACE_NAME_PATTERN

# A data key in the form used before keys carried a hash tag: ns:<namespace>:<key>.
_LEGACY_KEY = re.compile(rb"ns:(" + NAMESPACE_NAME_PATTERN.encode() + rb"):(.*)", re.DOTALL)
# The SCAN pattern that finds legacy keys, among others that the regex then rejects.
LEGACY_KEY_PATTERN = "ns:*"


def key_prefix(namespace: str) -> str:
    """Return the prefix that every data key of ``namespace`` starts with.

    The prefix contains no unescaped glob characters: ``{`` and ``}`` are literal in
    Redis's glob patterns, so a MATCH pattern that starts with it stays in the namespace.
    """
    return f"ns:{{{namespace}}}:"


def strip_prefix(namespace: str, redis_key: bytes) -> bytes:
    """Return the client's key name of a data key of ``namespace``."""
    return redis_key[len(key_prefix(namespace).encode()) :]


def namespaced_key(namespace: str, key: str) -> str:
    """Return the Redis key for ``key`` in ``namespace``.

    Namespace names cannot contain ":", "{" or "}", so no key name, whatever
    characters it holds, can produce another namespace's prefix or hash tag. The key
    text itself is stored verbatim after the prefix.
    """
    if not key:
        raise InvalidInput(_("The key name must not be empty."), code="invalid_key")
    if len(key.encode()) > settings.REDGX_MAX_KEY_BYTES:
        raise InvalidInput(
            _("The key name is longer than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_KEY_BYTES},
            code="key_too_long",
        )
    return key_prefix(namespace) + key


def migrated_key(redis_key: bytes) -> bytes | None:
    """Return the current name of a data key stored as ``ns:<namespace>:<key>``, else None.

    Keys already in the current form do not match, because "{" cannot start a namespace
    name, so migrating twice renames nothing.
    """
    match = _LEGACY_KEY.fullmatch(redis_key)
    if match is None:
        return None
    return key_prefix(match.group(1).decode()).encode() + match.group(2)
