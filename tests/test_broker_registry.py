"""The engine registry: validation, the admin, engine choice, and running workers reloading it."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client

from apps.inference import jobs
from apps.inference.engines import registry
from apps.inference.models import EngineEndpoint

from .broker_support import submit_embed, wait_final
from .conftest import start_worker
from .engines.fake_tei import FakeTeiEngine, fake_embedding


@pytest.fixture(autouse=True)
def fresh_registry():
    """Tests load rows that are rolled back afterwards; later tests must not see them cached."""
    registry.forget()
    yield
    registry.forget()


def endpoint(**overrides) -> EngineEndpoint:
    fields = {"name": "embed-main", "task": "embed", "base_url": "http://127.0.0.1:9", "protocol": "tei"}
    return EngineEndpoint(**{**fields, **overrides})


def test_valid_endpoint_passes(db):
    endpoint(base_url="https://engine.internal:8080/").full_clean()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"protocol": "openai_chat"}, "protocol"),
        ({"base_url": "ftp://127.0.0.1/"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"connect_timeout_s": -1}, "connect_timeout_s"),
        ({"task": "dance"}, "task"),
    ],
)
def test_invalid_endpoint_rejected(db, overrides, field):
    with pytest.raises(ValidationError) as error:
        endpoint(**overrides).full_clean()
    assert field in error.value.message_dict


def test_settings_engine_without_rows(db, settings):
    settings.REDGX_EMBED_ENGINE_URL = "http://127.0.0.1:7001"
    registry.refresh(force=True)
    engine = registry.engine_for("embed")
    assert engine.name == "default-embed"
    assert engine.base_url == "http://127.0.0.1:7001"
    assert engine.protocol == "tei"


def test_enabled_row_replaces_settings_engine(db):
    endpoint(name="embed-b", base_url="http://127.0.0.1:7002").save()
    endpoint(name="embed-off", base_url="http://127.0.0.1:7003", enabled=False).save()
    registry.refresh(force=True)
    assert registry.engine_for("embed").name == "embed-b"
    assert [engine.name for engine in registry.engines_for_task("embed")] == ["embed-b"]


def test_model_picks_its_engine(db):
    common = {"task": "generate", "protocol": "openai_chat"}
    endpoint(name="gen-small", model="small", base_url="http://127.0.0.1:7004", **common).save()
    endpoint(name="gen-large", model="large", base_url="http://127.0.0.1:7005", **common).save()
    registry.refresh(force=True)
    assert registry.engine_for("generate", "large").name == "gen-large"
    assert registry.engine_for("generate").name == "gen-large"
    with pytest.raises(registry.NoEngineError):
        registry.engine_for("generate", "missing")


def test_admin_lists_and_filters_endpoints(db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    endpoint(name="embed-listed").save()
    response = client.get("/admin/inference/engineendpoint/?task__exact=embed")
    assert response.status_code == 200
    assert b"embed-listed" in response.content
    response = client.post(
        "/admin/inference/engineendpoint/add/",
        {
            "name": "bad-protocol",
            "task": "embed",
            "base_url": "http://127.0.0.1:7006",
            "protocol": "redgx_ocr",
            "batch_size": 8,
            "max_wait_ms": 5,
            "max_concurrent_calls": 1,
            "connect_timeout_s": 1,
            "timeout_s": 5,
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert b"cannot serve task embed" in response.content
    assert not EngineEndpoint.objects.filter(name="bad-protocol").exists()


@pytest.mark.django_db(transaction=True)
def test_running_worker_picks_up_registry_change(owner_key):
    with FakeTeiEngine() as first, FakeTeiEngine() as second:
        worker = start_worker("broker-registry", first.url)
        try:
            job = wait_final(submit_embed("alpha", ["before"]), worker)
            assert job.result["vectors"] == [fake_embedding("before")]
            assert first.calls == [1]

            EngineEndpoint.objects.create(name="embed-second", task="embed", base_url=second.url, protocol="tei")
            saved_at = time.monotonic()
            while not second.calls and time.monotonic() - saved_at < 10:
                req_id = submit_embed("alpha", ["after"])
                job = wait_final(req_id, worker)
            pickup_s = time.monotonic() - saved_at
            assert job.status == jobs.JobStatus.DONE
            assert second.calls[-1] == 1
            assert pickup_s < 10, worker.output()

            row = EngineEndpoint.objects.get(name="embed-second")
            row.enabled = False
            row.save()
            deadline = time.monotonic() + 10
            calls_before = len(first.calls)
            while len(first.calls) == calls_before and time.monotonic() < deadline:
                wait_final(submit_embed("alpha", ["back"]), worker)
            assert len(first.calls) > calls_before
        finally:
            worker.stop()
