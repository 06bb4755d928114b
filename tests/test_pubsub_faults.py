"""Faults: a client that stops reading, clients that vanish, and a Redis restart."""

import os
import secrets
import select
import signal
import subprocess
import sys

import pytest
import redis

from . import pubsub_support
from .conftest import READ, WRITE, free_port, make_key
from .pubsub_support import (
    Client,
    data_redis_url,
    small_buffer_socket,
    start_redis_server,
    start_ws,
    subscriber_count,
    wait_until,
    ws_url,
)

ws_port = pubsub_support.ws_port


@pytest.fixture
def owner(transactional_db) -> str:
    return make_key({"alpha": {READ, WRITE}})


def test_slow_consumer_is_disconnected(ws_port, owner):
    fast = Client(ws_url(ws_port), owner)
    fast.subscribe("firehose")
    # This client reads nothing after its first four frames.
    slow = Client(ws_url(ws_port), owner, sock=small_buffer_socket(ws_port), max_queue=4)
    slow.subscribe("firehose", "slow-only")
    assert subscriber_count(data_redis_url(), "ns:alpha:slow-only") == 1

    # Random text, so that no compression could shrink it.
    count, payload = 300, secrets.token_hex(30_000)
    with redis.Redis.from_url(data_redis_url()) as publisher:
        pipeline = publisher.pipeline(transaction=False)
        for _ in range(count):
            pipeline.publish("ns:alpha:firehose", payload)
        pipeline.execute()

    assert [frame["data"] for frame in fast.messages(count, timeout=30)] == [payload] * count
    # The server dropped the slow client's subscriptions without waiting for it to read.
    wait_until(lambda: subscriber_count(data_redis_url(), "ns:alpha:slow-only") == 0, 10, message="UNSUBSCRIBE")
    with redis.Redis.from_url(data_redis_url()) as publisher:
        publisher.publish("ns:alpha:firehose", "still here")
    assert fast.next_frame()["data"] == "still here"

    code, reason, frames = slow.close_code(timeout=20)
    assert (code, reason) == (4429, "slow_consumer")
    # Frames that did not fit in the send buffer were dropped, not kept.
    assert len(frames) < count
    fast.close()


CLIENT_SCRIPT = """
import json, sys, time
from websockets.sync.client import connect
ws = connect(sys.argv[1], additional_headers={"X-API-Key": sys.argv[2]}, legacy=True)
ws.recv()
ws.send(json.dumps({"type": "subscribe", "channels": [sys.argv[3]]}))
ws.recv()
print("ready", flush=True)
time.sleep(60)
"""


def start_client_process(url: str, key: str, channel: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, url, key, channel], stdout=subprocess.PIPE, text=True
    )
    ready, _, _ = select.select([process.stdout], [], [], 10)
    assert ready, "the client process did not subscribe within 10 s"
    assert process.stdout.readline().strip() == "ready"
    return process


def test_vanished_clients_are_cleaned_up(transactional_db):
    port = free_port()
    server = start_ws("ws-keepalive", port, ping_interval=0.5, ping_timeout=0.5)
    key = make_key({"alpha": {READ}})
    killed = start_client_process(ws_url(port), key, "killed")
    frozen = start_client_process(ws_url(port), key, "frozen")
    try:
        assert subscriber_count(data_redis_url(), "ns:alpha:killed") == 1
        assert subscriber_count(data_redis_url(), "ns:alpha:frozen") == 1

        # Killed: the kernel closes the socket, but no close frame is sent.
        killed.kill()
        wait_until(lambda: subscriber_count(data_redis_url(), "ns:alpha:killed") == 0, 3, message="killed cleanup")
        # Frozen: the socket stays open and nothing replies to the server's pings.
        os.kill(frozen.pid, signal.SIGSTOP)
        elapsed = wait_until(
            lambda: subscriber_count(data_redis_url(), "ns:alpha:frozen") == 0, 5, message="frozen cleanup"
        )
        assert elapsed > 0.4  # the keepalive timeout did it, not the signal
    finally:
        for process in (killed, frozen):
            process.kill()
            process.wait()
        server.stop()


def test_subscriptions_return_after_redis_restart(tmp_path, transactional_db):
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_process = start_redis_server(redis_port, tmp_path)
    port = free_port()
    server = start_ws("ws-redis-restart", port, REDGX_DATA_REDIS_URL=redis_url, REDGX_PUBSUB_REDIS_GRACE_S="4")
    key = make_key({"alpha": {READ}})
    try:
        client = Client(ws_url(port), key)
        client.subscribe("orders")
        client.psubscribe("audit.*")

        def publish_both(text: str) -> None:
            with redis.Redis.from_url(redis_url) as publisher:
                publisher.publish("ns:alpha:orders", text)
                publisher.publish("ns:alpha:audit.login", text)

        publish_both("before")
        assert [frame["data"] for frame in client.messages(2)] == ["before", "before"]

        # A short restart: the subscriptions come back by themselves.
        redis_process.kill()
        redis_process.wait()
        assert client.next_frame()["type"] == "interrupted"
        redis_process = start_redis_server(redis_port, tmp_path)
        assert client.next_frame(timeout=10)["type"] == "resumed"
        assert subscriber_count(redis_url, "ns:alpha:orders") == 1
        publish_both("after")
        assert [(frame["type"], frame["data"]) for frame in client.messages(2)] == [
            ("message", "after"),
            ("pmessage", "after"),
        ]

        # An outage longer than REDGX_PUBSUB_REDIS_GRACE_S: clients are closed, not left deaf.
        redis_process.kill()
        redis_process.wait()
        assert client.next_frame()["type"] == "interrupted"
        code, reason, _ = client.close_code(timeout=15)
        assert (code, reason) == (4503, "redis_unavailable")

        redis_process = start_redis_server(redis_port, tmp_path)
        again = Client(ws_url(port), key)
        again.subscribe("orders")
        publish_both("back")
        assert again.next_frame() == {"type": "message", "channel": "orders", "data": "back"}
        again.close()
    finally:
        redis_process.kill()
        redis_process.wait()
        server.stop()
