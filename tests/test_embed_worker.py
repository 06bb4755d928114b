"""Embed jobs through a real Dramatiq worker process and a fake TEI engine on loopback."""

import time

import pytest

from apps.inference import jobs

from .conftest import free_port, start_worker
from .engines.fake_tei import FakeTeiEngine, fake_embedding
from .inference_support import submit, wait_for_final


@pytest.fixture
def engine():
    with FakeTeiEngine() as fake:
        yield fake


@pytest.fixture
def worker_settings() -> dict[str, str]:
    """Environment overrides for the worker; tests change it before `worker` starts."""
    return {"REDGX_EMBED_MAX_WAIT_MS": "20"}


@pytest.fixture
def worker(engine, worker_settings):
    process = start_worker("embed-worker", engine.url, **worker_settings)
    yield process
    process.stop()


def test_embed_done_with_vectors(owner, engine, worker):
    req_id = submit(owner, {"inputs": ["A man is playing a guitar.", "Someone plays an instrument."]})
    data = wait_for_final(owner, req_id, worker)
    assert data["status"] == "done"
    assert data["vectors"] == [
        fake_embedding("A man is playing a guitar."),
        fake_embedding("Someone plays an instrument."),
    ]
    assert data["dimensions"] == 384
    assert data["attempts"] == 1
    assert data["started_at"] <= data["finished_at"]
    assert jobs.get_job(req_id).status == jobs.JobStatus.DONE


def test_embed_without_normalize(owner, engine, worker):
    req_id = submit(owner, {"inputs": ["raw"], "normalize": False})
    data = wait_for_final(owner, req_id, worker)
    assert data["vectors"] == [fake_embedding("raw", normalize=False)]


@pytest.mark.parametrize("worker_settings", [{"REDGX_EMBED_MAX_WAIT_MS": "300"}])
def test_concurrent_submits_share_engine_calls(owner, engine, worker):
    req_ids = [submit(owner, {"inputs": [f"sentence {n}"]}) for n in range(32)]
    results = [wait_for_final(owner, req_id, worker) for req_id in req_ids]
    assert [r["status"] for r in results] == ["done"] * 32
    for n, result in enumerate(results):
        assert result["vectors"] == [fake_embedding(f"sentence {n}")]
    assert sum(engine.calls) == 32
    assert len(engine.calls) < 32
    assert "embed batch sent: requests=" in worker.output()


def test_large_job_is_split_into_client_batch_calls(owner, engine, worker):
    engine.max_client_batch_size = 4
    req_id = submit(owner, {"inputs": [f"s{n}" for n in range(10)]})
    data = wait_for_final(owner, req_id, worker)
    assert data["status"] == "done"
    assert data["vectors"] == [fake_embedding(f"s{n}") for n in range(10)]
    assert engine.calls == [4, 4, 2]


def test_transient_engine_error_is_retried(owner, engine, worker):
    engine.fail_next(503, count=1)
    req_id = submit(owner, {"inputs": ["retry me"]})
    data = wait_for_final(owner, req_id, worker)
    assert data["status"] == "done"
    assert data["attempts"] == 2
    assert data["vectors"] == [fake_embedding("retry me")]


def test_engine_down_ends_failed_with_reason(owner, engine, worker):
    engine.fail_next(503, count=100)
    req_id = submit(owner, {"inputs": ["doomed"]})
    data = wait_for_final(owner, req_id, worker)
    assert data["status"] == "failed"
    assert data["error"]["code"] == "engine_unavailable"
    assert "503" in data["error"]["message"]
    assert "3 attempts" in data["error"]["message"]
    assert "vectors" not in data
    # Test settings allow 2 retries, so the engine saw 3 calls.
    assert engine.calls == [1, 1, 1]


def test_unreachable_engine_ends_failed(owner, db):
    process = start_worker("embed-worker-unreachable", f"http://127.0.0.1:{free_port()}")
    try:
        req_id = submit(owner, {"inputs": ["nobody home"]})
        data = wait_for_final(owner, req_id, process)
    finally:
        process.stop()
    assert data["status"] == "failed"
    assert data["error"]["code"] == "engine_unreachable"


@pytest.mark.parametrize("worker_settings", [{"REDGX_EMBED_TIMEOUT_S": "1"}])
def test_hanging_engine_ends_failed_with_timeout(owner, engine, worker):
    engine.hang = True
    req_id = submit(owner, {"inputs": ["slow"]})
    data = wait_for_final(owner, req_id, worker, timeout=30)
    assert data["status"] == "failed"
    assert data["error"]["code"] == "engine_timeout"


@pytest.mark.parametrize("worker_settings", [{"REDGX_EMBED_MAX_WAIT_MS": "300"}])
def test_rejected_input_fails_only_its_own_job(owner, engine, worker):
    engine.reject_marker = "POISON"
    good = [submit(owner, {"inputs": [f"fine {n}"]}) for n in range(3)]
    bad = submit(owner, {"inputs": ["POISON pill"]})
    bad_data = wait_for_final(owner, bad, worker)
    assert bad_data["status"] == "failed"
    assert bad_data["error"]["code"] == "input_rejected"
    assert "422" in bad_data["error"]["message"]
    # Rejections are not retried.
    assert bad_data["attempts"] == 1
    for n, req_id in enumerate(good):
        data = wait_for_final(owner, req_id, worker)
        assert data["status"] == "done"
        assert data["vectors"] == [fake_embedding(f"fine {n}")]


def test_finished_job_is_not_overwritten(owner, db):
    req_id = jobs.create_job("alpha", "embed", {"inputs": ["x"], "normalize": True, "truncate": False})
    assert jobs.complete_job(req_id, {"vectors": [[1.0]], "dimensions": 1}) is True
    assert jobs.fail_job(req_id, "late", "a late duplicate") is False
    assert jobs.complete_job(req_id, {"vectors": [[2.0]], "dimensions": 1}) is False
    assert jobs.cancel_job(req_id, drop_result=False) == "final"
    job = jobs.get_job(req_id)
    assert job.status == jobs.JobStatus.DONE
    assert job.result["vectors"] == [[1.0]]
    assert job.expires_at is not None


def test_result_expires_after_result_ttl(owner, db, settings):
    settings.REDGX_RESULT_TTL_S = 60
    req_id = jobs.create_job("alpha", "embed", {"inputs": ["x"], "normalize": True, "truncate": False})
    jobs.complete_job(req_id, {"vectors": [[1.0]], "dimensions": 1})
    from apps.core.redis import inference_redis

    assert 0 < inference_redis().ttl(jobs.job_key(req_id)) <= 60


def test_job_survives_a_killed_worker(owner, engine):
    """A worker killed mid-call loses nothing: its lease expires and another worker takes the job."""
    recovery = {"REDGX_EMBED_TIMEOUT_S": "3"}
    engine.latency_s = 30
    first = start_worker("embed-worker-killed", engine.url, **recovery)
    try:
        req_id = submit(owner, {"inputs": ["survivor"]})
        deadline = time.monotonic() + 15
        while engine.calls == [] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.calls == [1], first.output()
        assert jobs.get_job(req_id).status == jobs.JobStatus.PROCESSING
    finally:
        first.kill()
        first.stop()

    engine.latency_s = 0
    second = start_worker("embed-worker-recovery", engine.url, **recovery)
    try:
        data = wait_for_final(owner, req_id, second, timeout=30)
    finally:
        second.stop()
    assert data["status"] == "done"
    assert data["vectors"] == [fake_embedding("survivor")]
    assert engine.calls == [1, 1]
