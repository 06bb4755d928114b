"""Closing WebSocket connections whose API key is revoked, deleted, expired or loses its grant.

Every change to a key, a grant or a namespace is published on the key cache's invalidation
channel after its transaction commits (apps/tenancy/signals.py). Each ASGI process listens
there too. For every digest named, it loads the key from the database, not from the key
cache, whose own listener may not have evicted it yet, and lets each local connection using
that key check it. While the listener is disconnected, every connected key is reloaded each
RECHECK_DISCONNECTED_S. Expiry needs no message: it is checked every second.
"""

import asyncio
import logging
import time
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from apps.tenancy.keycache import EVICT_ALL, INVALIDATION_CHANNEL, ResolvedKey, load_key

from . import redis_pubsub
from .redis_pubsub import REDIS_ERRORS

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 1.0
RECHECK_DISCONNECTED_S = 2.0
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0


class Watched(Protocol):
    def key_changed(self, key: ResolvedKey | None) -> None: ...

    def check_expiry(self, now: float) -> None: ...


class KeyWatcher:
    def __init__(self, url: str):
        self.url = url
        self.loop = asyncio.get_running_loop()
        # key digest -> connections authenticated with it
        self._watched: dict[str, set[Watched]] = {}
        self.listening = False
        self._tasks: list[asyncio.Task] = []

    def watch(self, digest: str, connection: Watched) -> None:
        if not self._tasks:
            self._tasks = [
                self.loop.create_task(self._listen(), name="redgx-keywatch-listen"),
                self.loop.create_task(self._sweep(), name="redgx-keywatch-sweep"),
            ]
        self._watched.setdefault(digest, set()).add(connection)

    def unwatch(self, digest: str, connection: Watched) -> None:
        connections = self._watched.get(digest)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._watched[digest]

    async def _listen(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            connection = None
            try:
                connection = await redis_pubsub.connect(self.url, "redgx-pubsub-keywatch")
                await redis_pubsub.send(connection, "SUBSCRIBE", INVALIDATION_CHANNEL)
                async for response in redis_pubsub.replies(connection):
                    if response[0] == b"subscribe":
                        self.listening = True
                        delay = RECONNECT_MIN_S
                        # Invalidations sent while disconnected are lost, so check everything.
                        await self._recheck(list(self._watched))
                    elif response[0] == b"message":
                        digest = response[2].decode()
                        await self._recheck(list(self._watched) if digest == EVICT_ALL else [digest])
            except REDIS_ERRORS as exc:
                if self.listening:
                    logger.warning("Key invalidation listener of the WebSocket server disconnected: %s", exc)
            except Exception:
                logger.exception("Key invalidation listener of the WebSocket server failed; restarting")
            finally:
                self.listening = False
                if connection is not None:
                    await connection.disconnect(nowait=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _sweep(self) -> None:
        last_reload = time.monotonic()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                now = time.time()
                for connections in list(self._watched.values()):
                    for connection in tuple(connections):
                        connection.check_expiry(now)
                if not self.listening and time.monotonic() - last_reload >= RECHECK_DISCONNECTED_S:
                    last_reload = time.monotonic()
                    await self._recheck(list(self._watched))
            except Exception:
                logger.exception("Checking the keys of WebSocket connections failed")

    async def _recheck(self, digests: list[str]) -> None:
        for digest in digests:
            if digest not in self._watched:
                continue
            try:
                key = await database_sync_to_async(load_key)(digest)
            except Exception:
                # Connections stay open while the database is down; the next check retries.
                logger.exception("Could not reload an API key for its WebSocket connections")
                continue
            for connection in tuple(self._watched.get(digest, ())):
                connection.key_changed(key)


_watcher: KeyWatcher | None = None


def get_key_watcher() -> KeyWatcher:
    """Return this process's key watcher, bound to the running event loop."""
    global _watcher
    if _watcher is None or _watcher.loop is not asyncio.get_running_loop():
        _watcher = KeyWatcher(settings.REDGX_INFERENCE_REDIS_URL)
    return _watcher
