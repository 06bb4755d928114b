"""apps.data.batch against redis-py's Pipeline: the same replies, errors and stored data for one batch."""

import pytest
from django.conf import settings
from redis.exceptions import DataError

from apps.core.redis import data_redis
from apps.data.batch import can_send, send_commands

from .conftest import stored_key

pytestmark = pytest.mark.skipif(settings.REDGX_DATA_REDIS_CLUSTER, reason="a cluster client uses redis-py's Pipeline")

COMMANDS = [
    ("SET", stored_key("a"), b"1"),
    ("INCR", stored_key("a")),
    ("HSET", stored_key("a"), "f", "v"),
    ("INCRBY", stored_key("a"), 2**62),
    ("INCRBY", stored_key("a"), 2**62),
    ("GET", stored_key("a")),
    ("INCRBYFLOAT", stored_key("f"), 1.5),
    ("INCRBYFLOAT", stored_key("f"), "0.25"),
    ("PTTL", stored_key("a")),
    ("RPUSH", stored_key("list"), "é", b"\xff\x00", 7),
    ("LRANGE", stored_key("list"), 0, -1),
    ("GET", stored_key("missing")),
    ("NOSUCHCOMMAND", "x"),
]


def outcome(replies: list) -> list:
    return [(type(reply).__name__, str(reply)) if isinstance(reply, Exception) else reply for reply in replies]


def through_pipeline(commands: list[tuple]) -> list:
    pipeline = data_redis().pipeline(transaction=False)
    for command in commands:
        pipeline.execute_command(*command)
    return pipeline.execute(raise_on_error=False)


def stored() -> dict:
    client = data_redis()
    return {key: (client.type(key), client.dump(key)) for key in sorted(client.keys("*"))}


def test_data_client_can_send():
    assert can_send(data_redis())


def test_replies_match_pipeline():
    replies = outcome(send_commands(data_redis(), COMMANDS))
    state = stored()
    data_redis().flushdb()

    assert replies == outcome(through_pipeline(COMMANDS))
    assert state == stored()


def test_connection_is_reusable_after_errors():
    send_commands(data_redis(), [("HSET", stored_key("h"), "f", "v"), ("INCR", stored_key("h"))])

    replies = send_commands(data_redis(), [("PING",), ("HGET", stored_key("h"), "f")])

    assert replies == [b"PONG", b"v"]


def test_boolean_argument_raises_like_encoder():
    with pytest.raises(DataError):
        send_commands(data_redis(), [("SET", stored_key("b"), True)])

    assert send_commands(data_redis(), [("EXISTS", stored_key("b"))]) == [0]
