"""Resolving API keys without touching PostgreSQL on warm requests.

Each process keeps resolved keys in memory. Any change to a key, its grants or a
namespace is published on a Redis channel after the transaction commits, and a
listener thread in every process evicts the affected entries at once. The entry
TTL limits the harm of a missed message. While the listener is disconnected the
TTL drops to one second, so a revocation still takes effect within a second.
"""

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis.exceptions
from django.conf import settings
from django.db import connection

from apps.core.redis import inference_redis

from .models import ApiKey
from .permissions import Permission

logger = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "redgx:keycache:invalidate"
# Message meaning "evict everything", sent when a namespace is deleted or renamed.
EVICT_ALL = "*"
MAX_ENTRIES = 10_000
DISCONNECTED_TTL_S = 1.0


@dataclass(frozen=True)
class ResolvedKey:
    """The API key facts a request needs, detached from the ORM."""

    id: int
    prefix: str
    digest: str
    revoked: bool
    expires_at: float | None
    # namespace name -> granted permissions
    grants: dict[str, frozenset[Permission]] = field(default_factory=dict)
    # The admin grant: the key may use /api/v1/admin/.
    is_admin: bool = False

    # DRF reads this on request.user.
    is_authenticated = True

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def allows(self, namespace: str, permission: Permission) -> bool:
        return permission in self.grants.get(namespace, frozenset())


def load_key(digest: str) -> ResolvedKey | None:
    api_key = ApiKey.objects.filter(digest=digest).first()
    if api_key is None:
        return None
    grants = {
        grant.namespace.name: frozenset(
            permission
            for permission, allowed in ((Permission.READ, grant.can_read), (Permission.WRITE, grant.can_write))
            if allowed
        )
        for grant in api_key.grants.select_related("namespace")
    }
    return ResolvedKey(
        id=api_key.id,
        prefix=api_key.prefix,
        digest=digest,
        revoked=api_key.is_revoked,
        expires_at=api_key.expires_at.timestamp() if api_key.expires_at else None,
        grants=grants,
        is_admin=api_key.is_admin,
    )


class KeyCache:
    """A bounded LRU of digest -> ResolvedKey (or None for unknown keys)."""

    def __init__(self, ttl_s: float, max_entries: int = MAX_ENTRIES):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[ResolvedKey | None, float]] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped on every eviction. A load that started before an eviction must not
        # store its possibly stale result after it.
        self._generation = 0
        self.listener_connected = False

    def resolve(self, digest: str) -> ResolvedKey | None:
        now = time.monotonic()
        ttl = self.ttl_s if self.listener_connected else min(self.ttl_s, DISCONNECTED_TTL_S)
        with self._lock:
            cached = self._entries.get(digest)
            if cached is not None and now - cached[1] < ttl:
                self._entries.move_to_end(digest)
                return cached[0]
            generation = self._generation
        resolved = load_key(digest)
        with self._lock:
            if generation == self._generation:
                self._entries[digest] = (resolved, now)
                self._entries.move_to_end(digest)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return resolved

    def evict(self, digest: str) -> None:
        with self._lock:
            self._generation += 1
            if digest == EVICT_ALL:
                self._entries.clear()
            else:
                self._entries.pop(digest, None)


def publish_invalidation(digest: str) -> None:
    """Tell every process to forget a key (or all keys with EVICT_ALL)."""
    _cache_for_this_process().evict(digest)
    try:
        inference_redis().publish(INVALIDATION_CHANNEL, digest)
    except redis.exceptions.RedisError:
        # Other processes fall back to the short TTL only while their listener is down.
        # A listener that stays connected misses this message, so log it as an error.
        logger.exception(
            "Could not publish an API key invalidation; other processes keep it for up to %s s",
            settings.REDGX_KEY_CACHE_TTL_S,
        )


class _Listener(threading.Thread):
    """Evicts cache entries named on the invalidation channel and flushes key usage."""

    def __init__(self, cache: KeyCache):
        super().__init__(name="redgx-keycache-listener", daemon=True)
        self.cache = cache

    def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                self._listen()
            except redis.exceptions.RedisError as exc:
                logger.warning("API key invalidation listener disconnected: %s; retrying in %.1f s", exc, backoff)
            except Exception:
                logger.exception("API key invalidation listener failed; restarting")
            self.cache.listener_connected = False
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    def _listen(self) -> None:
        pubsub = inference_redis().pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(INVALIDATION_CHANNEL)
            pubsub.get_message(timeout=1.0)  # the subscribe confirmation
            # Messages sent while disconnected are lost, so start from an empty cache.
            self.cache.evict(EVICT_ALL)
            self.cache.listener_connected = True
            logger.info("API key invalidation listener connected")
            next_flush = time.monotonic() + settings.REDGX_KEY_USAGE_FLUSH_S
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    self.cache.evict(message["data"].decode())
                if settings.REDGX_KEY_USAGE_FLUSH_S > 0 and time.monotonic() >= next_flush:
                    flush_key_usage()
                    # This thread serves no requests, so nothing else would close its connection.
                    connection.close()
                    next_flush = time.monotonic() + settings.REDGX_KEY_USAGE_FLUSH_S
        finally:
            pubsub.close()


# Last-used times recorded in memory and written to PostgreSQL by the listener
# thread, so that serving a request never writes to the database.
_usage: dict[int, float] = {}
_usage_lock = threading.Lock()


def record_key_usage(key_id: int) -> None:
    _usage[key_id] = time.time()


def flush_key_usage() -> int:
    """Write recorded last-used times to PostgreSQL; return how many keys were updated."""
    with _usage_lock:
        pending = dict(_usage)
        _usage.clear()
    if not pending:
        return 0
    try:
        for key_id, used_at in pending.items():
            ApiKey.objects.filter(pk=key_id).update(last_used_at=datetime.fromtimestamp(used_at, tz=UTC))
    except Exception:
        logger.exception("Could not store API key last-used times for %d keys", len(pending))
        return 0
    return len(pending)


_process_cache: KeyCache | None = None
_process_pid: int | None = None
_start_lock = threading.Lock()


def _cache_for_this_process() -> KeyCache:
    """Return this process's cache, starting its listener on first use after a fork."""
    global _process_cache, _process_pid
    if _process_pid != os.getpid():
        with _start_lock:
            if _process_pid != os.getpid():
                cache = KeyCache(ttl_s=settings.REDGX_KEY_CACHE_TTL_S)
                _Listener(cache).start()
                _process_cache, _process_pid = cache, os.getpid()
    return _process_cache


def resolve_key(plain_key: str) -> ResolvedKey | None:
    return _cache_for_this_process().resolve(ApiKey.digest_of(plain_key))
