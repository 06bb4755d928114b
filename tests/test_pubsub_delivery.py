"""Delivery through real uvicorn processes to real WebSocket clients."""

import asyncio
import json
import time

import httpx
import pytest
import redis
import websockets

from . import pubsub_support
from .conftest import READ, WRITE, free_port, make_key
from .pubsub_support import Client, data_redis_url, start_ws, ws_url

web_url = pubsub_support.web_url
ws_port = pubsub_support.ws_port


@pytest.fixture
def owner(transactional_db) -> str:
    return make_key({"alpha": {READ, WRITE}})


def publish(web_url: str, key: str, channel: str, data, namespace: str = "alpha", **params) -> httpx.Response:
    return httpx.post(
        f"{web_url}/api/v1/ns/{namespace}/pubsub/{channel}",
        json={"data": data},
        headers={"X-API-Key": key},
        params=params,
        timeout=10,
    )


def test_channel_delivery(ws_port, web_url, owner):
    client = Client(ws_url(ws_port), owner)
    assert client.welcome == {
        "type": "connected",
        "namespace": "alpha",
        "max_subscriptions": 100,
        "max_message_bytes": 65536,
    }
    ack = client.subscribe("news", "alerts")
    assert ack == {"type": "subscribed", "channels": ["news", "alerts"], "subscriptions": 2, "id": 1}

    response = publish(web_url, owner, "news", "hello")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"channel": "news", "receivers": 1, "size": 5}
    assert publish(web_url, owner, "alerts", {"level": 3}).status_code == 200
    assert client.messages(2) == [
        {"type": "message", "channel": "news", "data": "hello"},
        {"type": "message", "channel": "alerts", "data": '{"level":3}'},
    ]
    client.close()


def test_pattern_delivery(ws_port, web_url, owner):
    client = Client(ws_url(ws_port), owner)
    ack = client.psubscribe("news.*")
    assert ack == {"type": "psubscribed", "patterns": ["news.*"], "subscriptions": 1, "id": 1}

    publish(web_url, owner, "news.eu", "one")
    publish(web_url, owner, "sports", "skipped")
    publish(web_url, owner, "news.us", "two")
    assert client.messages(2) == [
        {"type": "pmessage", "pattern": "news.*", "channel": "news.eu", "data": "one"},
        {"type": "pmessage", "pattern": "news.*", "channel": "news.us", "data": "two"},
    ]
    assert client.nothing_within(0.3)
    client.close()


def test_direct_redis_publish_reaches_subscribers(ws_port, owner):
    client = Client(ws_url(ws_port), owner)
    client.subscribe("from-service")
    with redis.Redis.from_url(data_redis_url()) as other_service:
        other_service.publish("ns:alpha:from-service", "plain text")
        other_service.publish("ns:alpha:from-service", b"\xff\x00binary")
    assert client.messages(2) == [
        {"type": "message", "channel": "from-service", "data": "plain text"},
        {"type": "message", "channel": "from-service", "data": "/wBiaW5hcnk=", "encoding": "base64"},
    ]
    client.close()


def test_unsubscribe_stops_delivery(ws_port, web_url, owner):
    client = Client(ws_url(ws_port), owner)
    client.subscribe("a", "b")
    client.psubscribe("c*")
    ack = client.request("unsubscribe", channels=["a"])
    assert ack == {"type": "unsubscribed", "channels": ["a"], "subscriptions": 2, "id": 3}
    ack = client.request("punsubscribe")
    assert ack == {"type": "punsubscribed", "patterns": ["c*"], "subscriptions": 1, "id": 4}

    for channel in ("a", "c1", "b"):
        publish(web_url, owner, channel, channel)
    assert client.next_frame() == {"type": "message", "channel": "b", "data": "b"}
    assert client.nothing_within(0.3)
    assert client.request("ping") == {"type": "pong", "id": 5}
    client.close()


def test_invalid_frames_get_error_frames(ws_port, owner):
    client = Client(ws_url(ws_port), owner)
    client.ws.send("not json")
    assert client.next_frame()["code"] == "invalid_frame"
    error = client.request("listen")
    assert error["type"] == "error"
    assert error["code"] == "unknown_type"
    error = client.request("subscribe", channels="news")
    assert error["code"] == "invalid_request"
    error = client.request("subscribe", channels=[""])
    assert error["code"] == "invalid_channel"
    error = client.request("subscribe", channels=[f"c{n}" for n in range(101)])
    assert error["code"] == "too_many_subscriptions"
    # The connection still works after every error.
    assert client.subscribe("ok")["subscriptions"] == 1
    client.close()


def test_pattern_star_sees_no_other_namespace(ws_port, web_url, transactional_db):
    key = make_key({"alpha": {READ, WRITE}, "beta": {READ, WRITE}})
    client = Client(ws_url(ws_port), key)
    # Glob tricks that must still match only after the "ns:alpha:" prefix.
    client.psubscribe("*", "\\*", "[a-z]*", "*\\", "?*", "\\")

    for namespace in ("beta", "alpha-2", "alph"):
        assert publish(web_url, key, "x", "secret", namespace=namespace).status_code in {200, 403}
    with redis.Redis.from_url(data_redis_url()) as other_service:
        for channel in ("ns:beta:x", "ns:alpha", "ns:alphabet:x", "nsalpha:x", "x", "ns:*:x"):
            other_service.publish(channel, "secret")
    publish(web_url, key, "sentinel", "end")

    frames = client.messages(3)
    assert {frame["channel"] for frame in frames} == {"sentinel"}
    assert {frame["pattern"] for frame in frames} == {"*", "[a-z]*", "?*"}
    assert client.nothing_within(0.3)
    client.close()


def test_oversized_message_hurts_no_subscriber(ws_port, web_url, owner):
    client = Client(ws_url(ws_port), owner)
    client.subscribe("big")

    response = publish(web_url, owner, "big", "x" * (65536 + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert publish(web_url, owner, "big", "x" * 65536).status_code == 200
    assert client.next_frame()["data"] == "x" * 65536

    with redis.Redis.from_url(data_redis_url()) as other_service:
        other_service.publish("ns:alpha:big", b"y" * 100_000)
    frame = client.next_frame()
    assert frame["type"] == "error"
    assert frame["code"] == "message_too_large"
    assert frame["channel"] == "big"
    assert frame["size"] == 100_000

    publish(web_url, owner, "big", "after")
    assert client.next_frame() == {"type": "message", "channel": "big", "data": "after"}
    client.close()


def test_delivery_across_two_server_processes(ws_port, web_url, owner):
    other_port = free_port()
    other = start_ws("ws-other", other_port)
    try:
        local = Client(ws_url(ws_port), owner)
        remote = Client(ws_url(other_port), owner)
        local.subscribe("shared")
        remote.psubscribe("sha*")

        response = publish(web_url, owner, "shared", "to both")
        assert response.json()["data"]["receivers"] == 2
        # Through the other server's own HTTP route too: any process may publish.
        response = httpx.post(
            f"http://127.0.0.1:{other_port}/api/v1/ns/alpha/pubsub/shared",
            json={"data": "via the ASGI process"},
            headers={"X-API-Key": owner},
            timeout=10,
        )
        assert response.status_code == 200, response.text

        assert [frame["data"] for frame in local.messages(2)] == ["to both", "via the ASGI process"]
        assert [frame["data"] for frame in remote.messages(2)] == ["to both", "via the ASGI process"]
        local.close()
        remote.close()
    finally:
        other.stop()


SUBSCRIBERS = 200
BURST = 1000


def test_burst_reaches_200_subscribers_in_order(ws_port, owner):
    async def subscriber(ready: asyncio.Event, counter: list[int]) -> list[int]:
        async with websockets.connect(
            ws_url(ws_port), additional_headers={"X-API-Key": owner}, max_queue=None, open_timeout=30
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            await ws.send(json.dumps({"type": "subscribe", "channels": ["burst"]}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            counter[0] += 1
            if counter[0] == SUBSCRIBERS:
                ready.set()
            received = []
            while len(received) < BURST:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert frame["type"] == "message", frame
                received.append(int(frame["data"]))
            return received

    async def run() -> tuple[list[list[int]], float]:
        ready, counter = asyncio.Event(), [0]
        tasks = [asyncio.create_task(subscriber(ready, counter)) for _ in range(SUBSCRIBERS)]
        await asyncio.wait_for(ready.wait(), 60)
        started = time.monotonic()
        with redis.Redis.from_url(data_redis_url()) as publisher:
            pipeline = publisher.pipeline(transaction=False)
            for n in range(BURST):
                pipeline.publish("ns:alpha:burst", str(n))
            pipeline.execute()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        return results, time.monotonic() - started

    results, elapsed = asyncio.run(run())
    assert len(results) == SUBSCRIBERS
    for received in results:
        assert received == list(range(BURST))
    print(f"{SUBSCRIBERS} subscribers x {BURST} messages delivered in {elapsed:.1f} s")
