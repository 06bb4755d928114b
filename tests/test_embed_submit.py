"""Submitting and polling embed requests, without a worker running."""

import json

import pytest
import redis

from apps.core.redis import inference_redis
from apps.inference import views as inference_views
from apps.inference.queues import queue_depth

from .inference_support import EMBED, submit


def job_keys() -> list[bytes]:
    return inference_redis().keys("redgx:job:*")


def test_submit_answers_202_and_stores_the_job(owner):
    response = owner.post(EMBED, {"inputs": ["Sentence 1", "Sentence 2"]})
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert response["Location"].endswith(f"{EMBED}/{data['req_id']}")

    stored = inference_redis().hgetall(f"redgx:job:{data['req_id']}")
    assert stored[b"status"] == b"queued"
    assert stored[b"namespace"] == b"alpha"
    assert json.loads(stored[b"payload"]) == {
        "inputs": ["Sentence 1", "Sentence 2"],
        "normalize": True,
        "truncate": False,
    }
    assert queue_depth("embed") == 1


def test_single_string_becomes_one_input(owner):
    req_id = submit(owner, {"inputs": "just one"})
    payload = json.loads(inference_redis().hget(f"redgx:job:{req_id}", "payload"))
    assert payload["inputs"] == ["just one"]


def test_poll_queued_job(owner):
    req_id = submit(owner, {"inputs": ["x"]})
    data = owner.get(f"{EMBED}/{req_id}").json()["data"]
    assert data["status"] == "queued"
    assert data["req_id"] == req_id
    assert data["expires_at"] > data["created_at"]
    assert "vectors" not in data


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({}, 400, "inputs"),
        ({"inputs": []}, 400, "inputs"),
        ({"inputs": ""}, 400, "inputs"),
        ({"inputs": ["ok", "  "]}, 400, "inputs"),
        ({"inputs": ["ok", 5]}, 400, "inputs"),
        ({"inputs": [["nested"]]}, 400, "inputs"),
        ({"inputs": None}, 400, "inputs"),
        ({"inputs": {"a": 1}}, 400, "inputs"),
        ({"inputs": ["x"], "normalize": "yes"}, 400, "normalize"),
        ({"inputs": ["x"], "model": "other"}, 400, "model"),
    ],
)
def test_invalid_submit_is_rejected_and_not_queued(owner, body, status, field):
    response = owner.post(EMBED, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert field in error["fields"]
    assert job_keys() == []
    assert queue_depth("embed") == 0


def test_too_many_inputs_is_413(owner, settings):
    settings.REDGX_EMBED_MAX_INPUTS = 3
    response = owner.post(EMBED, {"inputs": ["a", "b", "c", "d"]})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_inputs"
    assert job_keys() == []


def test_too_long_input_is_413(owner, settings):
    settings.REDGX_EMBED_MAX_INPUT_CHARS = 10
    response = owner.post(EMBED, {"inputs": ["short", "x" * 11]})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "input_too_long"
    assert "Input 1" in error["message"]
    assert job_keys() == []


def test_unknown_task_is_404(owner):
    response = owner.post("/api/v1/ns/alpha/gpu/paint", {"inputs": ["x"]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_task"


def test_unknown_req_id_is_404(owner):
    for req_id in ["0" * 32, "not-a-req-id", "A" * 32]:
        response = owner.get(f"{EMBED}/{req_id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "request_not_found"
    assert owner.get(f"{EMBED}/../../etc").status_code == 404


def test_other_namespace_req_id_is_404(owner, outsider):
    req_id = submit(owner, {"inputs": ["private"]})
    response = outsider.get(f"/api/v1/ns/beta/gpu/embed/{req_id}")
    assert response.status_code == 404
    assert outsider.get(f"{EMBED}/{req_id}").status_code == 403


def test_reader_can_poll_but_not_submit(owner, reader):
    assert reader.post(EMBED, {"inputs": ["x"]}).status_code == 403
    req_id = submit(owner, {"inputs": ["x"]})
    assert reader.get(f"{EMBED}/{req_id}").status_code == 200


def test_full_queue_is_429_with_retry_after(owner, settings):
    settings.REDGX_MAX_QUEUED_JOBS_PER_TASK = 2
    submit(owner, {"inputs": ["1"]})
    submit(owner, {"inputs": ["2"]})
    response = owner.post(EMBED, {"inputs": ["3"]})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "queue_full"
    # Nothing finished in the last minute, so the backlog is not moving.
    assert response["Retry-After"] == "300"
    assert len(job_keys()) == 2


def test_enqueue_failure_is_503_and_leaves_no_job(owner, monkeypatch):
    def broker_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(inference_views.jobs, "create_job", broker_down)
    response = owner.post(EMBED, {"inputs": ["x"]})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"
    assert response["Retry-After"] == "1"
    assert job_keys() == []
