import pytest
from django.test import Client

from .engines.fake_tei import FakeTeiEngine


@pytest.fixture
def engine(settings):
    with FakeTeiEngine() as fake:
        settings.REDGX_EMBED_ENGINE_URL = fake.url
        yield fake


def test_healthz_needs_nothing():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"status": "alive"}}


@pytest.mark.django_db
def test_readyz_reports_every_dependency(engine):
    response = Client().get("/readyz")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "ready"
    assert set(data["checks"]) == {"database", "data_redis", "inference_redis", "engine:embed"}
    assert all(check["ok"] for check in data["checks"].values())
    assert data["checks"]["engine:embed"]["url"] == engine.url


@pytest.mark.django_db
def test_readyz_engine_down_is_degraded(engine):
    engine.healthy = False
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "degraded"
    assert response.json()["data"]["checks"]["engine:embed"]["ok"] is False
    assert Client().get("/readyz?strict=1").status_code == 503


@pytest.mark.django_db
def test_readyz_redis_down_is_503(engine, monkeypatch):
    import redis

    from apps.core import redis as redis_roles

    monkeypatch.setattr(redis_roles, "data_redis", lambda: redis.Redis(port=1, socket_connect_timeout=0.5))
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["data"]["status"] == "not_ready"
    assert body["data"]["checks"]["data_redis"] == {
        "ok": False,
        "error": "ConnectionError",
        "latency_ms": body["data"]["checks"]["data_redis"]["latency_ms"],
    }
