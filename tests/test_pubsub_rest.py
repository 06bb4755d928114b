"""The REST side of pub/sub: publishing, reserved channels, tickets, and job events."""

import json
import time

import pytest
import redis
from django.conf import settings

from apps.core.redis import data_redis, inference_redis
from apps.inference import jobs
from apps.pubsub import events
from apps.tenancy.models import ApiKey

from .conftest import READ, WRITE, ApiClient, make_key

PUBLISH = "/api/v1/ns/alpha/pubsub"


@pytest.fixture
def listener():
    """A plain Redis subscriber, as another service would run one."""
    with redis.Redis.from_url(settings.REDGX_DATA_REDIS_URL) as client:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        yield pubsub
        pubsub.close()


def received(pubsub, count: int, timeout: float = 5) -> list[tuple[bytes, bytes]]:
    """Return the next ``count`` messages as (channel, data), or fewer if ``timeout`` passes."""
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            messages.append((message["channel"], message["data"]))
    return messages


def test_publish_returns_receivers(owner, listener):
    response = owner.post(f"{PUBLISH}/news", {"data": "hello"})
    assert response.status_code == 200
    assert response.json()["data"] == {"channel": "news", "receivers": 0, "size": 5}

    listener.subscribe("ns:alpha:news")
    listener.psubscribe("ns:alpha:*")
    response = owner.post(f"{PUBLISH}/news", {"data": "hello"})
    assert response.json()["data"]["receivers"] == 2
    assert received(listener, 2) == [(b"ns:alpha:news", b"hello")] * 2


@pytest.mark.parametrize(
    ("data", "query", "published"),
    [
        ({"a": [1, 2.5, None], "b": "é"}, "", '{"a":[1,2.5,null],"b":"é"}'.encode()),
        (None, "", b"null"),
        (42, "", b"42"),
        ("", "", b""),
        ("/wA=", "?encoding=base64", b"\xff\x00"),
    ],
)
def test_publish_encodes_data(owner, listener, data, query, published):
    listener.subscribe("ns:alpha:room/1")
    response = owner.post(f"{PUBLISH}/room/1{query}", {"data": data})
    assert response.status_code == 200, response.content
    assert received(listener, 1) == [(b"ns:alpha:room/1", published)]


@pytest.mark.parametrize(
    ("body", "query", "code"),
    [
        ({}, "", "invalid"),
        ({"data": "x", "extra": 1}, "", "invalid"),
        ({"data": {"a": 1}}, "?encoding=base64", "invalid"),
        ({"data": "not base64!"}, "?encoding=base64", "invalid"),
        ({"data": "x"}, "?encoding=latin-1", "invalid_encoding"),
    ],
)
def test_publish_rejects_invalid_bodies(owner, body, query, code):
    response = owner.post(f"{PUBLISH}/news{query}", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_publish_over_size_limit_is_413(owner, listener):
    listener.subscribe("ns:alpha:big")
    limit = settings.REDGX_PUBSUB_MAX_MESSAGE_BYTES
    response = owner.post(f"{PUBLISH}/big", {"data": "é" * (limit // 2) + "x"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    assert owner.post(f"{PUBLISH}/big", {"data": "x" * limit}).status_code == 200
    assert received(listener, 1) == [(b"ns:alpha:big", b"x" * limit)]


def test_reserved_channels_are_rejected(owner):
    response = owner.post(f"{PUBLISH}/$jobs", {"data": "{}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reserved_channel"
    assert owner.post(f"{PUBLISH}/$other", {"data": "x"}).status_code == 403


def test_publish_permissions(reader, outsider, anonymous):
    assert reader.post(f"{PUBLISH}/news", {"data": "x"}).json()["error"]["code"] == "permission_denied"
    assert outsider.post(f"{PUBLISH}/news", {"data": "x"}).json()["error"]["code"] == "namespace_forbidden"
    assert anonymous.post(f"{PUBLISH}/news", {"data": "x"}).status_code == 401
    assert reader.get(f"{PUBLISH}/news").status_code == 405


def test_channel_name_limits(owner):
    assert owner.post(f"{PUBLISH}/", {"data": "x"}).status_code == 404
    response = owner.post(f"{PUBLISH}/{'c' * (settings.REDGX_MAX_KEY_BYTES + 1)}", {"data": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "channel_too_long"


def test_ticket_is_stored_as_a_digest(reader, reader_key):
    response = reader.post("/api/v1/ns/alpha/ws-tickets")
    assert response.status_code == 201
    ticket = response.json()["data"]["ticket"]
    assert len(ticket) == 43

    stored = inference_redis().keys("redgx:wsticket:*")
    assert len(stored) == 1
    assert ticket.encode() not in stored[0]
    assert 0 < inference_redis().ttl(stored[0]) <= 30
    assert json.loads(inference_redis().get(stored[0])) == {
        "key_digest": ApiKey.digest_of(reader_key),
        "namespace": "alpha",
    }


def test_ticket_needs_read_grant(db):
    writer = ApiClient(make_key({"alpha": {WRITE}}))
    assert writer.post("/api/v1/ns/alpha/ws-tickets").status_code == 403
    assert ApiClient(make_key({"alpha": {READ}})).post("/api/v1/ns/beta/ws-tickets").status_code == 403


def test_final_status_publishes_one_job_event(listener):
    listener.subscribe("ns:alpha:$jobs")
    done = jobs.create_job("alpha", "embed", {"inputs": ["x"]})
    failed = jobs.create_job("alpha", "embed", {"inputs": ["y"]})

    assert jobs.complete_job(done, {"vectors": [[0.5]], "dimensions": 1})
    assert not jobs.complete_job(done, {"vectors": [[0.5]], "dimensions": 1})
    assert not jobs.fail_job(done, "engine_rejected", "too late")
    assert jobs.fail_job(failed, "engine_rejected", "bad input")

    data_redis().publish("ns:alpha:$jobs", "sentinel")
    events = [data for _channel, data in received(listener, 3)]
    assert json.loads(events[0]) == {"req_id": done, "task": "embed", "status": "done"}
    assert json.loads(events[1]) == {
        "req_id": failed,
        "task": "embed",
        "status": "failed",
        "error": {"code": "engine_rejected", "message": "bad input"},
    }
    assert events[2] == b"sentinel"


def test_job_event_survives_a_data_redis_failure(monkeypatch):
    req_id = jobs.create_job("alpha", "embed", {"inputs": ["x"]})

    def fail_publish(*args, **kwargs):
        raise redis.exceptions.ConnectionError("data Redis down")

    monkeypatch.setattr(events, "publish_data_message", fail_publish)
    assert jobs.complete_job(req_id, {"vectors": [], "dimensions": 0})
    assert jobs.get_job(req_id).status == jobs.JobStatus.DONE
