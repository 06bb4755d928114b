"""Raw Redis connections in pub/sub mode for the ASGI process, with a keep-alive PING.

The hub and the key watcher manage reconnects and resubscription themselves, so they use a
bare connection (RESP2, where pub/sub messages are plain arrays) rather than redis-py's
PubSub, which retries and resubscribes on its own.
"""

import time
from collections.abc import AsyncIterator

import redis.exceptions
from redis.asyncio.connection import AbstractConnection, ConnectionPool

READ_TIMEOUT_S = 0.5
# When Redis has sent nothing for PING_INTERVAL_S, a PING goes out. Without a reply within
# PING_TIMEOUT_S the connection counts as lost, which catches a hung server.
PING_INTERVAL_S = 5.0
PING_TIMEOUT_S = 5.0
KEEPALIVE_TOKEN = b"keepalive"
REDIS_ERRORS = (redis.exceptions.RedisError, OSError)


async def connect(url: str, client_name: str) -> AbstractConnection:
    connection = ConnectionPool.from_url(
        url, protocol=2, socket_connect_timeout=2.0, socket_timeout=PING_TIMEOUT_S, client_name=client_name
    ).make_connection()
    await connection.connect()
    return connection


async def send(connection: AbstractConnection, *args) -> None:
    await connection.send_command(*args, check_health=False)


async def replies(connection: AbstractConnection) -> AsyncIterator[list]:
    """Yield what Redis sends on a subscribed connection; raise TimeoutError if Redis stops replying.

    Replies to the keep-alive PING are consumed here. Other PONGs are yielded as
    ``[b"pong", token]``.
    """
    last_read = time.monotonic()
    ping_sent_at: float | None = None
    while True:
        response = await connection.read_response(timeout=READ_TIMEOUT_S)
        now = time.monotonic()
        if response is None:
            if ping_sent_at is not None and now - ping_sent_at > PING_TIMEOUT_S:
                raise redis.exceptions.TimeoutError(f"no reply to PING within {PING_TIMEOUT_S} s")
            if ping_sent_at is None and now - last_read >= PING_INTERVAL_S:
                await send(connection, "PING", KEEPALIVE_TOKEN)
                ping_sent_at = now
            continue
        last_read = now
        ping_sent_at = None
        if response[0] == b"pong" and response[1] == KEEPALIVE_TOKEN:
            continue
        yield response
