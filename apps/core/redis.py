"""Connections to the two Redis roles.

The data role stores the namespaced keys of the data areas. The inference role
stores queues, the outbox and control messages. They may be one server or two.
Connection pools are owned by django-redis and shared by every thread of a process.
"""

from django_redis import get_redis_connection
from redis import Redis


def data_redis() -> Redis:
    return get_redis_connection("data")


def inference_redis() -> Redis:
    return get_redis_connection("inference")
