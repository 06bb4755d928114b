"""Resolving API keys without touching PostgreSQL on warm requests.

Each process keeps resolved keys in memory. Any change to a key, its grants or a
namespace is published on a Redis channel after the transaction commits, and a
listener thread in every process evicts the affected entries at once. The entry
TTL limits the harm of a missed message. While the listener is disconnected the
TTL drops to one second, so a revocation still takes effect within a second.
"""

import ipaddress
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis.exceptions
from django.conf import settings
from django.db import DatabaseError, OperationalError, connection

from apps.core.redis import inference_redis

from .models import ApiKey, IpAllowlistEntry, QuotaPolicy
from .permissions import Permission

logger = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "redgx:keycache:invalidate"
# Message meaning "evict everything", sent when a namespace is deleted or renamed.
EVICT_ALL = "*"
MAX_ENTRIES = 10_000
DISCONNECTED_TTL_S = 1.0
# Seconds between load attempts while PostgreSQL is unreachable.
DATABASE_RETRY_S = 1.0
STALE_LOG_INTERVAL_S = 10.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Quota:
    """Concrete request limits of one key, from its quota policy with settings filling the gaps."""

    rate_per_s: float
    burst: int
    # None: the key has no body limit of its own, and the server's limits apply
    # (REDGX_MAX_BODY_BYTES, or the larger upload limit of the stt and ocr routes).
    max_request_bytes: int | None
    max_queued_jobs: int

    @classmethod
    def from_policy(cls, policy: QuotaPolicy | None) -> "Quota":
        def pick(name: str, setting: str):
            value = getattr(policy, name, None) if policy is not None else None
            return getattr(settings, setting) if value is None else value

        return cls(
            rate_per_s=float(pick("rate_per_s", "REDGX_RATE_PER_S")),
            burst=int(pick("burst", "REDGX_RATE_BURST")),
            max_request_bytes=policy.max_request_bytes if policy is not None else None,
            max_queued_jobs=int(pick("max_queued_jobs", "REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE")),
        )


def _settings_quota() -> Quota:
    return Quota.from_policy(None)


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
    # The key's own allowlist; empty means any address.
    networks: tuple[Network, ...] = ()
    # namespace name -> allowlist, only for granted namespaces that have entries.
    namespace_networks: dict[str, tuple[Network, ...]] = field(default_factory=dict)
    quota: Quota = field(default_factory=_settings_quota)

    # DRF reads this on request.user.
    is_authenticated = True

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def allows(self, namespace: str, permission: Permission) -> bool:
        return permission in self.grants.get(namespace, frozenset())


def load_key(digest: str) -> ResolvedKey | None:
    api_key = ApiKey.objects.filter(digest=digest).select_related("quota_policy").first()
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
    networks = tuple(entry.ip_network for entry in api_key.allowlist.all())
    namespace_networks: dict[str, list[Network]] = {}
    for entry in IpAllowlistEntry.objects.filter(namespace__name__in=grants).select_related("namespace"):
        namespace_networks.setdefault(entry.namespace.name, []).append(entry.ip_network)
    policy = api_key.quota_policy or QuotaPolicy.objects.filter(is_default=True).first()
    return ResolvedKey(
        id=api_key.id,
        prefix=api_key.prefix,
        digest=digest,
        revoked=api_key.is_revoked,
        expires_at=api_key.expires_at.timestamp() if api_key.expires_at else None,
        grants=grants,
        is_admin=api_key.is_admin,
        networks=networks,
        namespace_networks={name: tuple(nets) for name, nets in namespace_networks.items()},
        quota=Quota.from_policy(policy),
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
        # After a failed load, lookups skip the database until this monotonic time, so that
        # an unreachable PostgreSQL does not add a connect attempt to every request.
        self._database_down_until = 0.0
        self._last_stale_log = 0.0
        self.stale_served = 0

    def resolve(self, digest: str) -> ResolvedKey | None:
        now = time.monotonic()
        ttl = self.ttl_s if self.listener_connected else min(self.ttl_s, DISCONNECTED_TTL_S)
        with self._lock:
            cached = self._entries.get(digest)
            if cached is not None and now - cached[1] < ttl:
                self._entries.move_to_end(digest)
                return cached[0]
            generation = self._generation
            database_down = now < self._database_down_until
        if database_down:
            return self._stale_or_raise(digest, cached, OperationalError("the database was unreachable moments ago"))
        try:
            resolved = load_key(digest)
        except DatabaseError as exc:
            self._database_down_until = time.monotonic() + DATABASE_RETRY_S
            return self._stale_or_raise(digest, cached, exc)
        with self._lock:
            if generation == self._generation:
                self._entries[digest] = (resolved, now)
                self._entries.move_to_end(digest)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return resolved

    def _stale_or_raise(self, digest: str, cached, exc: DatabaseError) -> ResolvedKey | None:
        """Serve an entry past its TTL while PostgreSQL is unreachable (stale-while-error).

        Revocations still arrive through the invalidation channel, which evicts the entry.
        A key that was never resolved in this process cannot be checked, so the error is
        raised and the API returns 503.
        """
        if cached is None:
            raise exc
        self.stale_served += 1
        now = time.monotonic()
        if now - self._last_stale_log >= STALE_LOG_INTERVAL_S:
            logger.warning(
                "Database unavailable (%s), so cached API keys are served past their TTL (%d stale lookups so far)",
                exc,
                self.stale_served,
            )
            self._last_stale_log = now
        return cached[0]

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


# Last-used times and client addresses recorded in memory and written to PostgreSQL
# by the listener thread, so that serving a request never writes to the database.
_usage: dict[int, tuple[float, str | None]] = {}
_usage_lock = threading.Lock()


def record_key_usage(key_id: int, ip: str | None = None) -> None:
    """Remember that a key was used now, from client address ``ip`` when known."""
    _usage[key_id] = (time.time(), ip)


def flush_key_usage() -> int:
    """Write recorded last-used times to PostgreSQL; return how many keys were updated."""
    with _usage_lock:
        pending = dict(_usage)
        _usage.clear()
    if not pending:
        return 0
    try:
        for key_id, (used_at, ip) in pending.items():
            changes = {"last_used_at": datetime.fromtimestamp(used_at, tz=UTC)}
            if ip:
                changes["last_used_ip"] = ip
            ApiKey.objects.filter(pk=key_id).update(**changes)
    except DatabaseError as exc:
        # Kept for the next flush, so a database outage delays last-used times instead of losing them.
        with _usage_lock:
            for key_id, usage in pending.items():
                _usage.setdefault(key_id, usage)
        logger.warning("Could not store API key last-used times for %d keys, retrying later: %s", len(pending), exc)
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
