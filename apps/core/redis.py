"""Connections to the two Redis roles.

The data role stores the namespaced keys of the data areas. The inference role
stores queues, the outbox and control messages. They may be one server or two.
Connection pools are owned by django-redis and shared by every thread of a process,
except the pool for blocking reads, whose socket timeout must outlast the block.
"""

import os
import threading

from django.conf import settings
from django_redis import get_redis_connection
from redis import Redis

# Seconds a blocking read's socket waits beyond the block itself before it counts as hung.
BLOCKING_SOCKET_MARGIN_S = 5.0

_data_client: Redis | None = None
_blocking_client: tuple[int, Redis] | None = None
_blocking_lock = threading.Lock()


def _without_callbacks(client: Redis) -> Redis:
    # redis-py reshapes some replies (SET to a bool, HGETALL to a dict) only when it
    # has the options a command was sent with. The data areas build raw commands and
    # shape the replies themselves, so their clients keep Redis's replies as they are.
    client.response_callbacks.clear()
    return client


def data_redis() -> Redis:
    """A client of the data role that returns Redis's replies unconverted."""
    global _data_client
    pool = get_redis_connection("data").connection_pool
    if _data_client is None or _data_client.connection_pool is not pool:
        _data_client = _without_callbacks(Redis(connection_pool=pool))
    return _data_client


def blocking_data_redis() -> Redis:
    """Return a data-role client for blocking commands, with a socket timeout longer than any block."""
    global _blocking_client
    with _blocking_lock:
        if _blocking_client is None or _blocking_client[0] != os.getpid():
            client = Redis.from_url(
                settings.REDGX_DATA_REDIS_URL,
                socket_timeout=settings.REDGX_MAX_BLOCK_MS / 1000 + BLOCKING_SOCKET_MARGIN_S,
                socket_connect_timeout=2.0,
                max_connections=settings.REDGX_MAX_BLOCKING_REQUESTS + 1,
                health_check_interval=30,
                protocol=settings.REDGX_DATA_REDIS_PROTOCOL,
            )
            _blocking_client = (os.getpid(), _without_callbacks(client))
        return _blocking_client[1]


def inference_redis() -> Redis:
    return get_redis_connection("inference")
