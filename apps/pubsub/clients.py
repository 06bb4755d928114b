"""The registry of connected WebSocket clients, shared by every ASGI process through Redis.

Each process keeps its connections in one hash of the inference Redis,
``redgx:wsclients:{process}``, rewritten every REDGX_WS_CLIENTS_HEARTBEAT_S with a TTL of
three heartbeats. A process that dies stops the heartbeat, so its entries vanish within
that TTL. The admin API's clients view reads every such hash (list_connected_clients).
"""

import asyncio
import json
import logging
import os
import socket
import time
import uuid

import redis.asyncio
from django.conf import settings

from apps.core.redis import inference_redis

logger = logging.getLogger(__name__)

KEY_PREFIX = "redgx:wsclients:"
HEARTBEATS_PER_TTL = 3


class ClientRegistry:
    """This process's connections: connection id -> fields stored in Redis."""

    def __init__(self, client: redis.asyncio.Redis):
        self.client = client
        self.redis_key = f"{KEY_PREFIX}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connections: dict[str, str] = {}
        self._heartbeat: asyncio.Task | None = None

    async def add(self, *, key_prefix: str, namespace: str, address: str) -> str:
        """Register a connection; return its id for remove()."""
        connection_id = uuid.uuid4().hex
        self._connections[connection_id] = json.dumps(
            {
                "key_prefix": key_prefix,
                "namespace": namespace,
                "client_address": address,
                "connected_since": time.time(),
            }
        )
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="redgx-wsclients-heartbeat")
        await self._run(lambda pipeline: pipeline.hset(self.redis_key, connection_id, self._connections[connection_id]))
        return connection_id

    async def remove(self, connection_id: str) -> None:
        if self._connections.pop(connection_id, None) is not None:
            await self._run(lambda pipeline: pipeline.hdel(self.redis_key, connection_id))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.REDGX_WS_CLIENTS_HEARTBEAT_S)
            await self._run(self._rewrite)

    def _rewrite(self, pipeline) -> None:
        # The whole hash is rewritten, so an entry that a failed add or remove left wrong
        # is right again after one heartbeat.
        pipeline.delete(self.redis_key)
        if self._connections:
            pipeline.hset(self.redis_key, mapping=self._connections)

    async def _run(self, queue_commands) -> None:
        """Run the queued commands and renew the TTL in one transaction.

        A failure is logged and left to the next heartbeat, because the registry is for
        operators and a Redis outage must not close client connections.
        """
        ttl_ms = round(settings.REDGX_WS_CLIENTS_HEARTBEAT_S * HEARTBEATS_PER_TTL * 1000)
        try:
            async with self.client.pipeline(transaction=True) as pipeline:
                queue_commands(pipeline)
                pipeline.pexpire(self.redis_key, ttl_ms)
                await pipeline.execute()
        except redis.exceptions.RedisError as exc:
            logger.warning("Could not update the connected-clients registry %s: %s", self.redis_key, exc)


_registries: dict[asyncio.AbstractEventLoop, ClientRegistry] = {}


def get_registry(client: redis.asyncio.Redis) -> ClientRegistry:
    """Return this event loop's registry, writing with ``client``."""
    loop = asyncio.get_running_loop()
    if loop not in _registries:
        _registries[loop] = ClientRegistry(client)
    return _registries[loop]


def list_connected_clients() -> list[dict]:
    """Return every registered connection of every live ASGI process, oldest first."""
    client = inference_redis()
    connections = []
    for redis_key in client.scan_iter(match=f"{KEY_PREFIX}*", count=100):
        for value in client.hvals(redis_key):
            connections.append(json.loads(value))
    connections.sort(key=lambda connection: connection["connected_since"])
    return connections
