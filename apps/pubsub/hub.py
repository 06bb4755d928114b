"""One Redis pub/sub connection per ASGI process, shared by every WebSocket client in it.

Client subscriptions are counted per name: the hub sends SUBSCRIBE or PSUBSCRIBE when the
first local client asks for a name and UNSUBSCRIBE or PUNSUBSCRIBE when the last one
leaves. Each message from Redis is encoded once and put in the outbox of every local
client subscribed to it without waiting, so one slow client never delays the others.

When the connection to Redis is lost, the hub sends its clients an ``interrupted`` frame,
reconnects with backoff, subscribes again to every name in use and then sends ``resumed``.
Messages published in between are lost, because Redis pub/sub does not keep them. If Redis
stays unreachable for REDGX_PUBSUB_REDIS_GRACE_S, the hub closes its clients with 4503, so
that no client stays connected without receiving.
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings
from django.utils.translation import gettext as _
from redis.asyncio.connection import AbstractConnection

from . import names, redis_pubsub
from .protocol import Frame, error_frame, message_frame
from .redis_pubsub import REDIS_ERRORS

logger = logging.getLogger(__name__)

# Always subscribed, so that the connection stays in pub/sub mode even when no client
# subscribes to anything. No client name can match it: client names start with "ns:".
CONTROL_CHANNEL = b"redgx:pubsub:hub"
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0
# How long a subscribe request waits for Redis to confirm it before the client gets an error frame.
CONFIRM_TIMEOUT_S = 10.0
# Names per SUBSCRIBE command when the hub subscribes again after a reconnect.
SUBSCRIBE_CHUNK = 500

CHANNEL, PATTERN = "channel", "pattern"
SUBSCRIBE_COMMANDS = {CHANNEL: "SUBSCRIBE", PATTERN: "PSUBSCRIBE"}
UNSUBSCRIBE_COMMANDS = {CHANNEL: "UNSUBSCRIBE", PATTERN: "PUNSUBSCRIBE"}


class Subscriber(Protocol):
    """The interface the hub calls on a WebSocket connection."""

    def deliver(self, frame: Frame) -> None: ...

    def redis_interrupted(self) -> None: ...

    def redis_resumed(self) -> None: ...

    def redis_lost(self) -> None: ...


class Hub:
    def __init__(self, url: str, grace_s: float, max_message_bytes: int):
        self.url = url
        self.grace_s = grace_s
        self.max_message_bytes = max_message_bytes
        self.loop = asyncio.get_running_loop()
        # kind -> Redis name -> local subscribers
        self._tables: dict[str, dict[bytes, set[Subscriber]]] = {CHANNEL: {}, PATTERN: {}}
        self._attached: set[Subscriber] = set()
        # Held while the tables change and the matching command is written, so that
        # commands reach Redis in the order the tables changed.
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._connected = asyncio.Event()
        self._lost_since: float | None = None
        # A barrier is a PING with a numbered token. Redis replies to commands in order, so its
        # PONG means every command sent before it has taken effect.
        self._tokens = itertools.count()
        self._barriers: dict[int, asyncio.Future] = {}
        self._resync_token: int | None = None
        self._task: asyncio.Task | None = None

    # Interface for connections ------------------------------------------------------------

    async def attach(self, subscriber: Subscriber, timeout: float) -> bool:
        """Register a connection; False if Redis is not reachable within ``timeout`` seconds."""
        if self._task is None:
            self._task = self.loop.create_task(self._run(), name="redgx-pubsub-hub")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        self._attached.add(subscriber)
        return True

    async def detach(self, subscriber: Subscriber, channels: Iterable[str], patterns: Iterable[str]) -> None:
        self._attached.discard(subscriber)
        await self.unsubscribe(subscriber, CHANNEL, channels)
        await self.unsubscribe(subscriber, PATTERN, patterns)

    async def subscribe(self, subscriber: Subscriber, kind: str, redis_names: Iterable[str]) -> bool:
        """Subscribe to Redis names; True once Redis has confirmed, False if it did not in time."""
        table = self._tables[kind]
        async with self._lock:
            new = []
            for name in redis_names:
                key = name.encode()
                if key not in table:
                    table[key] = set()
                    new.append(key)
                table[key].add(subscriber)
            if new:
                await self._send_commands(SUBSCRIBE_COMMANDS[kind], new)
        return await self._barrier()

    async def unsubscribe(self, subscriber: Subscriber, kind: str, redis_names: Iterable[str]) -> None:
        table = self._tables[kind]
        async with self._lock:
            unused = []
            for name in redis_names:
                key = name.encode()
                subscribers = table.get(key)
                if subscribers is None:
                    continue
                subscribers.discard(subscriber)
                if not subscribers:
                    del table[key]
                    unused.append(key)
            if unused:
                await self._send_commands(UNSUBSCRIBE_COMMANDS[kind], unused)

    # Commands ------------------------------------------------------------------------------

    async def _send_commands(self, command: str, keys: list[bytes]) -> None:
        connection = self._connection
        # A connection object reconnects by itself when written to; a lost one must stay lost
        # until _resync, which subscribes to everything in the tables.
        if connection is None or not connection.is_connected:
            return
        try:
            await _send_in_chunks(connection, command, keys)
        except REDIS_ERRORS as exc:
            # The reader sees the same failure and resynchronizes.
            logger.warning("Could not send %s to the data Redis: %s", command, exc)

    async def _barrier(self) -> bool:
        token = next(self._tokens)
        future = self.loop.create_future()
        self._barriers[token] = future
        connection = self._connection
        if connection is not None and connection.is_connected:
            # If this fails, the next resync resolves the barrier.
            with contextlib.suppress(*REDIS_ERRORS):
                await redis_pubsub.send(connection, "PING", b"b%d" % token)
        try:
            return await asyncio.wait_for(asyncio.shield(future), CONFIRM_TIMEOUT_S)
        except TimeoutError:
            return False
        finally:
            self._barriers.pop(token, None)

    def _resolve_barriers(self, before: int | None = None, result: bool = True) -> None:
        for token in [token for token in self._barriers if before is None or token < before]:
            future = self._barriers.pop(token)
            if not future.done():
                future.set_result(result)

    # The connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            try:
                await self._resync()
                await self._read()
            except REDIS_ERRORS as exc:
                if self._lost_since is None or self._connected.is_set():
                    logger.warning("Pub/sub connection to the data Redis lost: %s; reconnecting", exc)
            except Exception:
                logger.exception("Pub/sub hub failed; reconnecting")
            delay = RECONNECT_MIN_S if self._connected.is_set() else min(delay * 2, RECONNECT_MAX_S)
            await self._connection_lost()
            await asyncio.sleep(delay)

    async def _resync(self) -> None:
        """Connect and subscribe to every name in use. The reply to the final PING ends the resync."""
        connection = await redis_pubsub.connect(self.url, "redgx-pubsub-hub")
        async with self._lock:
            self._connection = connection
            await redis_pubsub.send(connection, "SUBSCRIBE", CONTROL_CHANNEL)
            for kind, table in self._tables.items():
                await _send_in_chunks(connection, SUBSCRIBE_COMMANDS[kind], list(table))
            self._resync_token = next(self._tokens)
            await redis_pubsub.send(connection, "PING", b"r%d" % self._resync_token)

    async def _read(self) -> None:
        async for response in redis_pubsub.replies(self._connection):
            self._dispatch(response)

    def _dispatch(self, response: list) -> None:
        kind = response[0]
        if kind == b"message":
            self._fan_out(self._tables[CHANNEL].get(response[1]), response[1], response[2], None)
        elif kind == b"pmessage":
            self._fan_out(self._tables[PATTERN].get(response[1]), response[2], response[3], response[1])
        elif kind == b"pong":
            self._pong(response[1])

    def _fan_out(self, subscribers, channel: bytes, payload: bytes, pattern: bytes | None) -> None:
        if not subscribers:
            return
        client_channel = names.client_name(channel)
        if len(payload) > self.max_message_bytes:
            frame = error_frame(
                "message_too_large",
                _("A message on channel '%(channel)s' was larger than %(limit)d bytes and was not delivered.")
                % {"channel": client_channel, "limit": self.max_message_bytes},
                channel=client_channel,
                size=len(payload),
            )
        else:
            client_pattern = names.client_name(pattern) if pattern is not None else None
            frame = message_frame(client_channel, payload, client_pattern)
        for subscriber in tuple(subscribers):
            subscriber.deliver(frame)

    def _pong(self, token: bytes) -> None:
        if token[:1] == b"b":
            future = self._barriers.get(int(token[1:]))
            if future is not None and not future.done():
                future.set_result(True)
        elif token[:1] == b"r" and int(token[1:]) == self._resync_token:
            self._resolve_barriers(before=self._resync_token)
            self._connected.set()
            if self._lost_since is not None:
                logger.info(
                    "Pub/sub connection to the data Redis restored after %.1f s", time.monotonic() - self._lost_since
                )
                self._lost_since = None
                for subscriber in tuple(self._attached):
                    subscriber.redis_resumed()

    async def _connection_lost(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)
        now = time.monotonic()
        if self._connected.is_set():
            self._connected.clear()
            self._lost_since = now
            for subscriber in tuple(self._attached):
                subscriber.redis_interrupted()
        elif self._lost_since is None:
            self._lost_since = now
        if self._attached and now - self._lost_since >= self.grace_s:
            logger.warning(
                "Data Redis unreachable for %.1f s; closing %d WebSocket connections",
                now - self._lost_since,
                len(self._attached),
            )
            self._resolve_barriers(result=False)
            for subscriber in tuple(self._attached):
                subscriber.redis_lost()
            self._attached.clear()


async def _send_in_chunks(connection: AbstractConnection, command: str, keys: list[bytes]) -> None:
    for start in range(0, len(keys), SUBSCRIBE_CHUNK):
        await redis_pubsub.send(connection, command, *keys[start : start + SUBSCRIBE_CHUNK])


_hub: Hub | None = None


def get_hub() -> Hub:
    """Return this process's hub, bound to the running event loop."""
    global _hub
    if _hub is None or _hub.loop is not asyncio.get_running_loop():
        _hub = Hub(
            settings.REDGX_DATA_REDIS_URL,
            grace_s=settings.REDGX_PUBSUB_REDIS_GRACE_S,
            max_message_bytes=settings.REDGX_PUBSUB_MAX_MESSAGE_BYTES,
        )
    return _hub
