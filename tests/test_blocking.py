"""Blocking reads hold web threads; they must never starve other requests."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import READ, WRITE, free_port, make_key, start_web


@pytest.fixture
def web(transactional_db):
    port = free_port()
    # 2 processes x 128 threads; each lets 104 requests block and keeps 24 for the rest.
    # Connections do not spread evenly over processes, so each one can take all 100.
    process = start_web("web-blocking", port, WEB_CONCURRENCY="2", WEB_THREADS="128", REDGX_MAX_BLOCKING_REQUESTS="104")
    yield f"http://127.0.0.1:{port}/api/v1/ns/alpha"
    process.stop()


def test_hundred_blocked_clients_do_not_stop_other_requests(web):
    headers = {"X-API-Key": make_key({"alpha": {READ, WRITE}})}
    assert httpx.put(f"{web}/kv/greeting", json={"value": "hello"}, headers=headers).status_code == 200

    started = threading.Barrier(101)

    def blocked_pop(n: int) -> httpx.Response:
        started.wait()
        return httpx.post(f"{web}/queue/empty?op=bpop", json={"timeout_ms": 8000}, headers=headers, timeout=20)

    with ThreadPoolExecutor(max_workers=100) as pool:
        pops = [pool.submit(blocked_pop, n) for n in range(100)]
        started.wait()
        time.sleep(1.0)  # every pop is now waiting in Redis

        early = [pop.result().text for pop in pops if pop.done()]
        assert early == []
        for _ in range(10):
            response = httpx.get(f"{web}/kv/greeting", headers=headers, timeout=5)
            assert response.status_code == 200
            assert response.json()["data"]["value"] == "hello"
        # The reads returned while every pop was still waiting, not after the pops timed out.
        finished = [(pop.result().status_code, pop.result().text[:200]) for pop in pops if pop.done()]
        assert finished == []

        # One push wakes exactly one waiting client.
        assert httpx.post(f"{web}/queue/empty", json={"values": ["job"]}, headers=headers).status_code == 200
        results = [pop.result() for pop in pops]

    assert [response.status_code for response in results] == [200] * 100
    values = [response.json()["data"]["value"] for response in results]
    assert values.count("job") == 1
    assert values.count(None) == 99


def test_blocking_capacity_answers_503(transactional_db):
    port = free_port()
    process = start_web(
        "web-blocking-capacity", port, WEB_CONCURRENCY="1", WEB_THREADS="8", REDGX_MAX_BLOCKING_REQUESTS="2"
    )
    base = f"http://127.0.0.1:{port}/api/v1/ns/alpha"
    headers = {"X-API-Key": make_key({"alpha": {READ, WRITE}})}
    try:

        def blocked_pop() -> httpx.Response:
            return httpx.post(f"{base}/queue/empty?op=bpop", json={"timeout_ms": 2000}, headers=headers, timeout=10)

        with ThreadPoolExecutor(max_workers=2) as pool:
            waiting = [pool.submit(blocked_pop) for _ in range(2)]
            time.sleep(0.5)
            rejected = blocked_pop()
            assert rejected.status_code == 503
            assert rejected.json()["error"]["code"] == "blocking_capacity"
            assert rejected.headers["Retry-After"] == "1"
            assert httpx.get(f"{base}/kv/x", headers=headers).status_code == 404
            assert [pop.result().status_code for pop in waiting] == [200, 200]
    finally:
        process.stop()


def test_block_timeout_is_capped(owner, settings):
    settings.REDGX_MAX_BLOCK_MS = 1000
    for timeout in [0, -1, 1001, "100", None]:
        response = owner.post("/api/v1/ns/alpha/queue/q?op=bpop", {"timeout_ms": timeout})
        assert response.status_code == 400, timeout
        assert "timeout_ms" in response.json()["error"]["fields"]
