"""Connections to the two Redis roles.

The data role stores the namespaced keys of the data areas. The inference role
stores queues, the outbox and control messages. They may be one server or two.
Connection pools are owned by django-redis and shared by every thread of a process.
"""

from django_redis import get_redis_connection
from redis import Redis

_data_client: Redis | None = None


def data_redis() -> Redis:
    """A client of the data role that returns Redis's replies unconverted.

    redis-py reshapes some replies (SET to a bool, HGETALL to a dict) only when it
    knows the options a command was sent with. The data areas build raw commands and
    shape the replies themselves, so this client has no response callbacks.
    """
    global _data_client
    pool = get_redis_connection("data").connection_pool
    if _data_client is None or _data_client.connection_pool is not pool:
        client = Redis(connection_pool=pool)
        client.response_callbacks.clear()
        _data_client = client
    return _data_client


def inference_redis() -> Redis:
    return get_redis_connection("inference")
