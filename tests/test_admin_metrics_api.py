"""GET /api/v1/admin/metrics: queue depths, rates, batches, rejections and circuits, for admin keys only."""

import time

import httpx
import pytest
from django.conf import settings

from apps.core.redis import inference_redis
from apps.inference import circuit, stats

from .conftest import READ, WRITE, ApiClient, free_port, make_key, start_web, start_worker
from .engines.fake_tei import FakeTeiEngine
from .envelopes import data_of, error_of

METRICS = "/api/v1/admin/metrics"


@pytest.fixture
def admin(db) -> ApiClient:
    """An API key with the admin grant and no namespace."""
    return ApiClient(make_key({}, is_admin=True))


@pytest.fixture
def shop(db) -> ApiClient:
    """Writes namespace shop, no admin grant."""
    return ApiClient(make_key({"shop": {READ, WRITE}}))


@pytest.fixture
def blog(db) -> ApiClient:
    return ApiClient(make_key({"blog": {READ, WRITE}}))


def submit_embed(client: ApiClient, namespace: str, text: str) -> str:
    response = client.post(f"/api/v1/ns/{namespace}/gpu/embed", {"inputs": [text]})
    assert response.status_code == 202, response.content
    return response.json()["data"]["req_id"]


def test_metrics_shape_without_traffic(admin):
    data = data_of(admin.get(METRICS))
    assert data["window_s"] == 60
    assert set(data["queues"]) == {"embed", "generate", "translate", "stt", "ocr"}
    assert data["queues"]["embed"] == {"depth": 0, "namespaces": {}, "oldest_age_s": None}
    assert data["throughput"] == {}
    assert data["throughput_by_namespace"] == {}
    assert data["failed_ratio"] == {}
    assert data["batches"] == {}
    assert data["rejections"] == {}
    embed_engines = [engine for engine in data["engines"] if engine["task"] == "embed"]
    assert embed_engines == [
        {"name": "default-embed", "task": "embed", "protocol": "tei", "circuit": {"state": "closed", "failures": 0}}
    ]
    assert data["generated_at"].endswith("Z")


def test_metrics_queue_depth_per_namespace(admin, shop, blog):
    # No worker runs, so every submitted job stays queued.
    submit_embed(shop, "shop", "first")
    submit_embed(shop, "shop", "second")
    submit_embed(blog, "blog", "third")
    time.sleep(0.3)

    queues = admin.get(METRICS).json()["data"]["queues"]

    assert queues["embed"]["depth"] == 3
    assert queues["embed"]["namespaces"] == {"shop": 2, "blog": 1}
    assert queues["embed"]["oldest_age_s"] >= 0.3
    assert queues["generate"] == {"depth": 0, "namespaces": {}, "oldest_age_s": None}


def test_metrics_stores_depth_sample(admin, shop):
    submit_embed(shop, "shop", "waiting")

    admin.get(METRICS)

    bucket = int(time.time() // stats.BUCKET_S)
    sample = inference_redis().hget(f"redgx:stats:depth:{bucket}", '["embed"]')
    assert sample == b"1"


def test_metrics_rates_batches_rejections(admin):
    for _ in range(30):
        stats.record_outcome("embed", "shop", "done")
    for _ in range(10):
        stats.record_outcome("embed", "blog", "failed")
    stats.record_batch("default-embed", 32, 50.0)
    stats.record_batch("default-embed", 8, 30.0)
    for _ in range(3):
        stats.record_rejection("queue_full", "shop")

    data = admin.get(f"{METRICS}?window=300").json()["data"]

    assert data["window_s"] == 300
    done_rate = data["throughput"]["embed"]["done"]
    failed_rate = data["throughput"]["embed"]["failed"]
    # 300 s window: the covered time is between 295 and 300 s.
    assert 30 / 300 <= done_rate <= 30 / 295
    assert 10 / 300 <= failed_rate <= 10 / 295
    assert data["throughput_by_namespace"]["embed"]["shop"] == {"done": done_rate}
    assert data["throughput_by_namespace"]["embed"]["blog"] == {"failed": failed_rate}
    assert data["failed_ratio"] == {"embed": 0.25}
    assert data["batches"]["default-embed"] == {
        "batches": 2,
        "items": 40,
        "mean_size": 20.0,
        "max_size": 32,
        "mean_engine_ms": 40.0,
    }
    assert 3 / 300 <= data["rejections"]["queue_full"]["shop"] <= 3 / 295


def test_metrics_shows_open_circuit(admin):
    for _ in range(settings.REDGX_ENGINE_FAILURE_THRESHOLD):
        circuit.record_failure("default-embed")

    engines = admin.get(METRICS).json()["data"]["engines"]

    embed = next(engine for engine in engines if engine["name"] == "default-embed")
    assert embed["circuit"] == {"state": "open", "failures": settings.REDGX_ENGINE_FAILURE_THRESHOLD}


@pytest.mark.parametrize("window", ["1", "4", "abc", str(settings.REDGX_STATS_RETENTION_S + 1)])
def test_metrics_invalid_window(admin, window):
    response = admin.get(f"{METRICS}?window={window}")

    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert "'window'" in error["message"]


def test_metrics_rejects_key_without_admin_grant(shop):
    response = shop.get(METRICS)

    assert error_of(response, 403)["code"] == "admin_forbidden"


def test_metrics_requires_key(anonymous):
    response = anonymous.get(METRICS)

    assert error_of(response, 401)["code"] == "not_authenticated"


def test_metrics_rejects_post(admin):
    response = admin.post(METRICS, {})

    assert error_of(response, 405)["code"] == "method_not_allowed"


def test_metrics_after_real_jobs(admin, shop, transactional_db):
    """Jobs through a real worker and fake TEI engine show up as throughput and batches."""
    with FakeTeiEngine() as engine:
        worker = start_worker("metrics-worker", engine.url, REDGX_EMBED_MAX_WAIT_MS="50")
        try:
            req_ids = [submit_embed(shop, "shop", f"sentence {n}") for n in range(12)]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                statuses = [
                    shop.get(f"/api/v1/ns/shop/gpu/embed/{req_id}").json()["data"]["status"] for req_id in req_ids
                ]
                if all(status == "done" for status in statuses):
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"jobs did not finish: {statuses}\n{worker.output()[-3000:]}")
        finally:
            worker.stop()

    data = admin.get(METRICS).json()["data"]

    assert data["queues"]["embed"]["depth"] == 0
    assert data["throughput_by_namespace"]["embed"]["shop"]["done"] > 0
    assert "failed" not in data["throughput"]["embed"]
    batches = data["batches"]["default-embed"]
    assert batches["items"] == 12
    assert batches["batches"] == len(engine.calls)
    assert batches["max_size"] == max(engine.calls)


def test_metrics_route_in_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/admin/metrics"]["get"]
    assert operation["operationId"] == "admin_metrics"
    assert [parameter["name"] for parameter in operation["parameters"]] == ["window"]
    assert sorted(operation["responses"]) == ["200", "400", "401", "403", "503"]
    success = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert success["properties"]["ok"] == {"type": "boolean", "enum": [True]}
    assert "queues" in success["properties"]["data"]["properties"]
    assert operation["security"] == [{"ApiKeyAuth": []}]


def test_metrics_inference_redis_down(transactional_db):
    """With nothing listening at the inference Redis address, the route returns 503 in the envelope."""
    admin_key = make_key({}, is_admin=True)
    port = free_port()
    web = start_web(
        "metrics-redis-down-web",
        port,
        REDGX_INFERENCE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        REDGX_REDIS_SOCKET_TIMEOUT_S="1",
    )
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{METRICS}", headers={"X-API-Key": admin_key}, timeout=15)
    finally:
        web.stop()

    assert response.status_code == 503, response.text
    assert response.json() == {
        "ok": False,
        "error": {"code": "redis_unavailable", "message": "Redis is unavailable. Retry later."},
    }
