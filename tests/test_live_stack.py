"""The gateway as deployed: gunicorn with two worker processes, a Dramatiq worker, a fake engine."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.utils import timezone

from apps.tenancy.models import ApiKey

from .conftest import READ, WRITE, free_port, make_key, start_web, start_worker
from .engines.fake_tei import FakeTeiEngine, fake_embedding


@pytest.fixture
def engine():
    with FakeTeiEngine() as fake:
        yield fake


@pytest.fixture
def web(transactional_db):
    port = free_port()
    process = start_web("web", port, WEB_CONCURRENCY="2", WEB_THREADS="8")
    yield f"http://127.0.0.1:{port}"
    process.stop()


def get_status(base_url: str, key: str) -> int:
    # A new connection each time, so requests spread over both gunicorn processes.
    return httpx.get(f"{base_url}/api/v1/ns/alpha/kv/k", headers={"X-API-Key": key}, timeout=5).status_code


def test_revoked_key_stops_working_within_a_second_everywhere(web):
    key = make_key({"alpha": {READ, WRITE}})
    assert {get_status(web, key) for _ in range(40)} == {404}  # warm in both processes

    api_key = ApiKey.objects.get(digest=ApiKey.digest_of(key))
    api_key.revoked_at = timezone.now()
    api_key.save()
    revoked_at = time.monotonic()

    while get_status(web, key) != 401:
        assert time.monotonic() - revoked_at < 1.0
    time.sleep(max(0.0, 1.0 - (time.monotonic() - revoked_at)))
    assert {get_status(web, key) for _ in range(40)} == {401}


def test_concurrent_submits_are_batched(web, engine):
    key = make_key({"alpha": {READ, WRITE}})
    worker = start_worker("live-worker", engine.url, REDGX_EMBED_MAX_WAIT_MS="200")
    headers = {"X-API-Key": key}
    try:

        def submit(n: int) -> str:
            response = httpx.post(
                f"{web}/api/v1/ns/alpha/gpu/embed", json={"inputs": [f"sentence {n}"]}, headers=headers, timeout=10
            )
            assert response.status_code == 202, response.text
            return response.json()["data"]["req_id"]

        with ThreadPoolExecutor(max_workers=32) as pool:
            req_ids = list(pool.map(submit, range(32)))

        deadline = time.monotonic() + 20
        results = {}
        while len(results) < 32 and time.monotonic() < deadline:
            for n, req_id in enumerate(req_ids):
                if n not in results:
                    response = httpx.get(f"{web}/api/v1/ns/alpha/gpu/embed/{req_id}", headers=headers)
                    assert response.status_code == 200, response.text
                    data = response.json()["data"]
                    if data["status"] == "done":
                        results[n] = data
            time.sleep(0.05)
    finally:
        worker.stop()

    assert len(results) == 32, worker.output()[-3000:]
    for n, data in results.items():
        assert data["vectors"] == [fake_embedding(f"sentence {n}")]
    assert sum(engine.calls) == 32
    assert len(engine.calls) < 32
    assert "embed batch sent: requests=" in worker.output()
