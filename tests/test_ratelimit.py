"""Per-key rate limits: GCRA in Redis, RateLimit-* headers, 429, fail-open, per-key body size."""

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import override_settings

from apps.tenancy.models import ApiKey, QuotaPolicy

from .conftest import READ, WRITE, ApiClient, free_port, make_key, start_web

KV = "/api/v1/ns/alpha/kv/k"
# At this rate no request is refilled during a test, so a burst of N allows exactly N.
NO_REFILL_RATE = 0.001


def key_with_quota(burst: int, rate_per_s: float = NO_REFILL_RATE, **fields) -> str:
    plain_key = make_key({"alpha": {READ, WRITE}})
    name = f"test-{uuid.uuid4().hex[:8]}"
    policy = QuotaPolicy.objects.create(name=name, rate_per_s=rate_per_s, burst=burst, **fields)
    ApiKey.objects.filter(digest=ApiKey.digest_of(plain_key)).update(quota_policy=policy)
    return plain_key


def error_code(response) -> str:
    body = response.json()
    assert body["ok"] is False
    return body["error"]["code"]


def test_headers_on_every_response(db):
    client = ApiClient(key_with_quota(burst=5))
    response = client.get(KV)
    assert response.status_code == 404
    assert response["RateLimit-Limit"] == "5"
    assert response["RateLimit-Remaining"] == "4"
    assert int(response["RateLimit-Reset"]) > 0
    assert response["RateLimit-Policy"] == "5;w=5000"

    forbidden = client.get("/api/v1/ns/beta/kv/k")
    assert forbidden.status_code == 403
    assert forbidden["RateLimit-Remaining"] == "3"


def test_burst_then_429(db):
    client = ApiClient(key_with_quota(burst=3))
    statuses = [client.get(KV).status_code for _ in range(3)]
    assert statuses == [404, 404, 404]

    refused = client.get(KV)
    assert refused.status_code == 429
    assert error_code(refused) == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Remaining"] == "0"


def test_keys_have_separate_buckets(db):
    first, second = ApiClient(key_with_quota(burst=1)), ApiClient(key_with_quota(burst=1))
    assert first.get(KV).status_code == 404
    assert first.get(KV).status_code == 429
    assert second.get(KV).status_code == 404


def test_forged_forwarded_for_shares_bucket(db):
    client = ApiClient(key_with_quota(burst=2))
    assert client.get(KV, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 404
    assert client.get(KV, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 404
    assert client.get(KV, HTTP_X_FORWARDED_FOR="198.51.100.3").status_code == 429


def test_settings_give_default_quota(db):
    with override_settings(REDGX_RATE_BURST=2, REDGX_RATE_PER_S=NO_REFILL_RATE):
        client = ApiClient(make_key({"alpha": {READ}}))
        assert [client.get(KV).status_code for _ in range(3)] == [404, 404, 429]


def test_key_body_limit_is_413_before_reading(db):
    client = ApiClient(key_with_quota(burst=10, max_request_bytes=100))
    response = client.put(KV, {"value": "x" * 200})
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert "100 bytes" in response.json()["error"]["message"]
    assert client.put(KV, {"value": "small"}).status_code == 200


def test_redis_down_fails_open(db, caplog):
    client = ApiClient(key_with_quota(burst=1))
    dead_url = f"redis://127.0.0.1:{free_port()}/15"
    from django.conf import settings

    caches = {**settings.CACHES, "inference": {**settings.CACHES["inference"], "LOCATION": dead_url}}
    with override_settings(CACHES=caches), caplog.at_level(logging.WARNING, logger="apps.api.ratelimit"):
        statuses = [client.get(KV).status_code for _ in range(3)]
        response = client.get(KV)
    assert statuses == [404, 404, 404]
    assert "RateLimit-Limit" not in response
    assert "Rate limiter unavailable" in caplog.text


@pytest.fixture
def four_web_processes(transactional_db):
    port = free_port()
    process = start_web("ratelimit-web", port, WEB_CONCURRENCY="4", WEB_THREADS="10")
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_40_concurrent_requests_get_10(four_web_processes):
    key = key_with_quota(burst=10)

    def get(_n: int) -> httpx.Response:
        # A new connection per request, so requests spread over the four processes.
        return httpx.get(f"{four_web_processes}/api/v1/ns/alpha/kv/k", headers={"X-API-Key": key}, timeout=10)

    with ThreadPoolExecutor(max_workers=40) as pool:
        responses = list(pool.map(get, range(40)))

    allowed = [response for response in responses if response.status_code == 404]
    refused = [response for response in responses if response.status_code == 429]
    assert len(allowed) == 10
    assert len(refused) == 30
    assert sorted(int(response.headers["RateLimit-Remaining"]) for response in allowed) == list(range(10))
    assert all(response.json()["error"]["code"] == "rate_limited" for response in refused)
    assert all(int(response.headers["Retry-After"]) >= 1 for response in refused)


def test_script_flushed_from_redis_still_limits(db):
    from apps.core.redis import inference_redis

    client = ApiClient(key_with_quota(burst=2))
    assert client.get(KV)["RateLimit-Remaining"] == "1"

    # After SCRIPT FLUSH, as after a Redis restart, EVALSHA gets NOSCRIPT and EVAL runs instead.
    inference_redis().script_flush()
    second = client.get(KV)
    assert second.status_code == 404
    assert second["RateLimit-Remaining"] == "0"
    assert client.get(KV).status_code == 429


def test_closed_connection_still_limits(db):
    import redis
    from django.conf import settings

    client = ApiClient(key_with_quota(burst=2))
    assert client.get(KV)["RateLimit-Remaining"] == "1"

    # The server closes every connection of this database, as after a restart or an idle
    # timeout, including the one the rate limiter keeps. The next check must reconnect
    # rather than fail open.
    killer = redis.Redis.from_url(settings.REDGX_INFERENCE_REDIS_URL)
    own_id = killer.client_id()
    database = str(killer.connection_pool.connection_kwargs.get("db", 0))
    killed = 0
    for connection in killer.client_list():
        if str(connection["db"]) == database and connection["id"] != str(own_id):
            killer.client_kill_filter(_id=connection["id"])
            killed += 1
    killer.close()
    assert killed > 0

    second = client.get(KV)
    assert second.status_code == 404
    assert second["RateLimit-Remaining"] == "0"
    assert client.get(KV).status_code == 429
