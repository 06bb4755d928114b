"""The inference API without a worker: submit for every task, ids, idempotency, backpressure, status and cancel."""

import base64
import json
import math
import threading
import time
from types import SimpleNamespace

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.api.errors import Conflict
from apps.core.redis import inference_redis
from apps.data import views as data_views
from apps.inference import admission, idempotency, jobs, queues, reqids, stats
from apps.inference.taskspecs import TASKS

from .conftest import READ, WRITE, ApiClient, make_key

GPU = "/api/v1/ns/alpha/gpu"
# The smallest files the gateway's magic-byte checks accept as WAV audio and as a PNG image.
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)

VALID_BODIES = {
    "embed": {"inputs": ["Sentence 1", "Sentence 2"]},
    "generate": {"prompt": "Say hello", "max_tokens": 8},
    "translate": {"texts": ["Good morning"], "source": "en", "target": "pt-BR"},
    "stt": {"audio_base64": base64.b64encode(WAV).decode()},
    "ocr": {"document_base64": base64.b64encode(PNG).decode(), "content_type": "image/png"},
}


def submit(client: ApiClient, task: str, body: dict, **headers) -> str:
    response = client.post(f"{GPU}/{task}", body, **headers)
    assert response.status_code == 202, response.content
    return response.json()["data"]["req_id"]


def stored_job(req_id: str) -> dict:
    fields = inference_redis().hgetall(f"redgx:job:{req_id}")
    return {name.decode(): value.decode() for name, value in fields.items()}


def job_count() -> int:
    return len(inference_redis().keys("redgx:job:*"))


def post_multipart(client: ApiClient, task: str, fields: dict, **headers):
    return client.client.post(f"{GPU}/{task}", fields, HTTP_X_API_KEY=client.key, **headers)


def test_task_table_covers_every_documented_task():
    assert set(TASKS) == set(VALID_BODIES)


# --- submit ----------------------------------------------------------------------------


@pytest.mark.parametrize("task", sorted(VALID_BODIES))
def test_submit_stores_job_for_every_task(owner, task):
    response = owner.post(f"{GPU}/{task}", VALID_BODIES[task])

    assert response.status_code == 202
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert response["Location"].endswith(f"{GPU}/{task}/{data['req_id']}")
    assert reqids.was_issued_for(data["req_id"], "alpha", task)
    stored = stored_job(data["req_id"])
    assert stored["status"] == "queued"
    assert stored["namespace"] == "alpha"
    assert stored["task"] == task


def test_stt_multipart_upload_is_stored_as_base64(owner):
    audio = SimpleUploadedFile("hello.wav", WAV, content_type="audio/wav")
    response = post_multipart(owner, "stt", {"audio": audio, "language": "en", "response_format": "verbose_json"})

    assert response.status_code == 202, response.content
    payload = json.loads(stored_job(response.json()["data"]["req_id"])["payload"])
    assert base64.b64decode(payload["audio_base64"]) == WAV
    assert payload["filename"] == "hello.wav"
    assert payload["language"] == "en"
    assert payload["response_format"] == "verbose_json"


def test_ocr_multipart_upload_is_stored_as_base64(owner):
    document = SimpleUploadedFile("page.png", PNG, content_type="image/png")
    response = post_multipart(owner, "ocr", {"document": document})

    assert response.status_code == 202, response.content
    payload = json.loads(stored_job(response.json()["data"]["req_id"])["payload"])
    assert base64.b64decode(payload["document_base64"]) == PNG
    assert payload["content_type"] == "image/png"


def test_multipart_is_rejected_for_json_only_tasks(owner):
    response = post_multipart(owner, "embed", {"inputs": "hello"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert job_count() == 0


def test_upload_may_exceed_json_body_limit(owner, settings):
    settings.REDGX_MAX_BODY_BYTES = 4096
    audio = bytes(WAV[:12]) + bytes(20_000)

    upload = SimpleUploadedFile("long.wav", audio, content_type="audio/wav")
    assert post_multipart(owner, "stt", {"audio": upload}).status_code == 202

    as_json = owner.post(f"{GPU}/stt", {"audio_base64": base64.b64encode(audio).decode()})
    assert as_json.status_code == 413
    assert as_json.json()["error"]["code"] == "payload_too_large"
    assert job_count() == 1


def test_upload_over_file_limit_is_413_naming_field(owner, settings):
    settings.REDGX_STT_MAX_AUDIO_BYTES = 1000
    upload = SimpleUploadedFile("long.wav", WAV[:12] + bytes(2000), content_type="audio/wav")

    response = post_multipart(owner, "stt", {"audio": upload})

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert "audio" in error["fields"]
    assert job_count() == 0


def test_upload_body_over_upload_limit_is_413(owner, settings):
    settings.REDGX_MAX_BODY_BYTES = 4096
    settings.REDGX_OCR_MAX_DOCUMENT_BYTES = 1000
    upload = SimpleUploadedFile("big.png", PNG + bytes(200_000), content_type="image/png")

    response = post_multipart(owner, "ocr", {"document": upload})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert job_count() == 0


@pytest.mark.parametrize(
    "task, body, status, field",
    [
        ("embed", {"inputs": []}, 400, "inputs"),
        ("embed", {"inputs": ["x"], "model": "other"}, 400, "model"),
        ("generate", {"prompt": "x", "temperature": 3}, 400, "temperature"),
        ("generate", {"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, 400, "prompt"),
        ("generate", {"messages": [{"role": "robot", "content": "y"}]}, 400, "messages"),
        ("generate", {"prompt": "x", "max_tokens": 10**9}, 400, "max_tokens"),
        ("translate", {"texts": ["x"], "source": "en", "target": "en"}, 400, "target"),
        ("translate", {"texts": ["x"], "source": "english!", "target": "pt-BR"}, 400, "source"),
        ("translate", {"texts": ["x"] * 10_000, "source": "en", "target": "pt-BR"}, 413, "texts"),
        ("stt", {"audio_base64": "not base64!"}, 400, "audio_base64"),
        ("stt", {"audio_base64": base64.b64encode(b"plain text").decode()}, 400, "audio_base64"),
        ("stt", {"audio_base64": base64.b64encode(WAV).decode(), "response_format": "xml"}, 400, "response_format"),
        ("stt", {}, 400, "audio"),
        ("ocr", {"document_base64": base64.b64encode(PNG).decode(), "content_type": "image/jpeg"}, 400, "content_type"),
        ("ocr", {"document_base64": base64.b64encode(PNG).decode()}, 400, "content_type"),
    ],
)
def test_invalid_submit_names_field_and_stores_nothing(owner, task, body, status, field):
    response = owner.post(f"{GPU}/{task}", body)

    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert field in error["fields"]
    assert job_count() == 0


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"null", b"7"])
def test_non_object_body_is_400(owner, raw):
    response = owner.post(f"{GPU}/embed", raw=raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert job_count() == 0


def test_unknown_task_is_404_listing_tasks(owner):
    response = owner.post(f"{GPU}/paint", {"inputs": ["x"]})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_task"
    for task in TASKS:
        assert task in error["message"]


# --- deadline_s ------------------------------------------------------------------------


def test_deadline_is_shown_in_status(owner):
    before = time.time()
    req_id = submit(owner, "embed", {"inputs": ["x"], "deadline_s": 30})

    data = owner.get(f"{GPU}/embed/{req_id}").json()["data"]
    assert data["deadline_at"] is not None
    deadline = _parse_iso(data["deadline_at"])
    assert before + 29 <= deadline <= time.time() + 31


@pytest.mark.parametrize("value", [0, -5, 1.5, "30", True, None, 10**12])
def test_invalid_deadline_is_400(owner, settings, value):
    response = owner.post(f"{GPU}/embed", {"inputs": ["x"], "deadline_s": value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["deadline_s"]
    assert "deadline_s" in error["message"]
    assert job_count() == 0


def test_deadline_over_cap_is_400(owner, settings):
    settings.REDGX_JOB_MAX_DEADLINE_S = 60
    response = owner.post(f"{GPU}/embed", {"inputs": ["x"], "deadline_s": 61})
    assert response.status_code == 400
    assert "deadline_s" in response.json()["error"]["fields"]


def test_multipart_deadline_as_text(owner):
    audio = SimpleUploadedFile("a.wav", WAV, content_type="audio/wav")
    response = post_multipart(owner, "stt", {"audio": audio, "deadline_s": "45"})
    assert response.status_code == 202, response.content

    bad = post_multipart(owner, "stt", {"audio": SimpleUploadedFile("a.wav", WAV), "deadline_s": "soon"})
    assert bad.status_code == 400
    assert "deadline_s" in bad.json()["error"]["fields"]


# --- request ids: 404 vs 410 -----------------------------------------------------------


def test_req_id_is_32_hex_and_signed():
    req_id = reqids.new_req_id("alpha", "embed")
    assert reqids.is_well_formed(req_id)
    assert reqids.was_issued_for(req_id, "alpha", "embed")
    assert not reqids.was_issued_for(req_id, "beta", "embed")
    assert not reqids.was_issued_for(req_id, "alpha", "ocr")
    assert abs(reqids.created_at(req_id) - time.time()) < 5
    tampered = req_id[:12] + ("0" if req_id[12] != "0" else "1") + req_id[13:]
    assert not reqids.was_issued_for(tampered, "alpha", "embed")


def test_req_id_survives_key_rotation(settings):
    req_id = reqids.new_req_id("alpha", "embed")
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY = "a-new-secret-key-after-rotation-that-is-long-enough"
    assert not reqids.was_issued_for(req_id, "alpha", "embed")

    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert reqids.was_issued_for(req_id, "alpha", "embed")


def test_never_seen_id_is_404(owner):
    for req_id in ["0" * 32, "not-a-req-id", "A" * 32, reqids.new_req_id("alpha", "embed")[:-1] + "x"]:
        response = owner.get(f"{GPU}/embed/{req_id}")
        assert response.status_code == 404, req_id
        assert response.json()["error"]["code"] == "request_not_found"


def test_expired_result_is_410(owner):
    req_id = submit(owner, "embed", {"inputs": ["x"]})
    inference_redis().delete(f"redgx:job:{req_id}")

    for method in ("get", "delete"):
        response = getattr(owner, method)(f"{GPU}/embed/{req_id}")
        assert response.status_code == 410, method
        assert response.json()["error"]["code"] == "result_expired"


def test_expired_id_of_other_namespace_is_404(owner, outsider):
    req_id = submit(owner, "embed", {"inputs": ["x"]})
    inference_redis().delete(f"redgx:job:{req_id}")

    response = outsider.get(f"/api/v1/ns/beta/gpu/embed/{req_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "request_not_found"


def test_foreign_live_id_is_404(owner, outsider):
    req_id = submit(owner, "embed", {"inputs": ["x"]})

    assert outsider.get(f"/api/v1/ns/beta/gpu/embed/{req_id}").status_code == 404
    assert outsider.delete(f"/api/v1/ns/beta/gpu/embed/{req_id}").status_code == 404
    assert owner.get(f"{GPU}/ocr/{req_id}").status_code == 404
    assert stored_job(req_id)["status"] == "queued"


# --- status ----------------------------------------------------------------------------


def test_status_of_queued_job(owner):
    req_id = submit(owner, "translate", VALID_BODIES["translate"])

    response = owner.get(f"{GPU}/translate/{req_id}")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["req_id"] == req_id
    assert data["task"] == "translate"
    assert data["status"] == "queued"
    assert data["attempts"] == 0
    assert data["deliveries"] == 0
    assert data["started_at"] is None
    assert data["finished_at"] is None
    assert _parse_iso(data["expires_at"]) > _parse_iso(data["created_at"])
    assert data["deadline_at"] is not None
    assert set(data["timing"]) == {"queued_ms", "batch_wait_ms", "engine_ms", "total_ms"}
    assert data["timing"]["total_ms"] is None


@pytest.mark.parametrize("wait", ["abc", "-1", "1e3", "nan", "", "1.2.3"])
def test_invalid_wait_is_400(owner, wait):
    req_id = submit(owner, "embed", {"inputs": ["x"]})
    response = owner.get(f"{GPU}/embed/{req_id}?wait={wait}")
    assert response.status_code == 400
    assert "wait" in response.json()["error"]["fields"]


def test_wait_without_worker_returns_queued(owner):
    req_id = submit(owner, "embed", {"inputs": ["x"]})
    response = owner.get(f"{GPU}/embed/{req_id}?wait=0.3")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "queued"


def test_wait_without_free_slot_is_503(owner, monkeypatch):
    # Every blocking slot of this process is taken, as by long-running queue pops.
    monkeypatch.setattr(data_views, "_blocking_slots", threading.BoundedSemaphore(1))
    data_views._blocking_slots.acquire()
    req_id = submit(owner, "embed", {"inputs": ["x"]})

    response = owner.get(f"{GPU}/embed/{req_id}?wait=5")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "blocking_capacity"
    assert owner.get(f"{GPU}/embed/{req_id}").status_code == 200


def test_reader_can_poll_but_not_submit_or_cancel(owner, reader):
    assert reader.post(f"{GPU}/embed", {"inputs": ["x"]}).status_code == 403
    req_id = submit(owner, "embed", {"inputs": ["x"]})
    assert reader.get(f"{GPU}/embed/{req_id}").status_code == 200
    assert reader.delete(f"{GPU}/embed/{req_id}").status_code == 403
    assert stored_job(req_id)["status"] == "queued"


# --- cancel ----------------------------------------------------------------------------


def test_cancel_queued_job_then_drop_it(owner):
    req_id = submit(owner, "embed", {"inputs": ["x"]})

    cancelled = owner.delete(f"{GPU}/embed/{req_id}")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["data"] == {"req_id": req_id, "outcome": "cancelled", "status": "failed"}
    status = owner.get(f"{GPU}/embed/{req_id}").json()["data"]
    assert status["status"] == "failed"
    assert status["error"]["code"] == "cancelled"

    dropped = owner.delete(f"{GPU}/embed/{req_id}")
    assert dropped.status_code == 200
    assert dropped.json()["data"]["outcome"] == "dropped"
    assert owner.get(f"{GPU}/embed/{req_id}").status_code == 410


# --- Idempotency-Key -------------------------------------------------------------------


def test_same_key_and_body_returns_first_req_id(owner):
    first = owner.post(f"{GPU}/embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="order-17")
    again = owner.post(f"{GPU}/embed", {"inputs": "x"}, HTTP_IDEMPOTENCY_KEY="order-17")

    assert first.status_code == 202
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again[idempotency.REPLAY_HEADER] == "true"
    assert idempotency.REPLAY_HEADER not in first
    assert job_count() == 1


def test_same_key_with_other_body_is_409(owner):
    submit(owner, "embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="order-18")

    for task, body in [
        ("embed", {"inputs": ["y"]}),
        ("embed", {"inputs": ["x"], "deadline_s": 60}),
        ("ocr", VALID_BODIES["ocr"]),
    ]:
        response = owner.post(f"{GPU}/{task}", body, HTTP_IDEMPOTENCY_KEY="order-18")
        assert response.status_code == 409, body
        assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert job_count() == 1


def test_idempotency_key_scope(owner, db):
    other_owner = ApiClient(make_key({"alpha": {READ, WRITE}, "gamma": {READ, WRITE}}))
    first = submit(owner, "embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="shared")
    second = submit(other_owner, "embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="shared")
    third = other_owner.post("/api/v1/ns/gamma/gpu/embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="shared")

    assert third.status_code == 202
    assert len({first, second, third.json()["data"]["req_id"]}) == 3
    assert job_count() == 3


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "tab\there", "naïve"])
def test_malformed_idempotency_key_is_400(owner, key):
    response = owner.post(f"{GPU}/embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert job_count() == 0


def test_longest_idempotency_key_is_accepted(owner):
    submit(owner, "embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="k" * 200)


def test_rejected_submit_frees_idempotency_key(owner, settings):
    settings.REDGX_MAX_QUEUED_JOBS_PER_TASK = 0
    response = owner.post(f"{GPU}/embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert response.status_code == 429

    settings.REDGX_MAX_QUEUED_JOBS_PER_TASK = 10
    retried = owner.post(f"{GPU}/embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert retried.status_code == 202
    assert idempotency.REPLAY_HEADER not in retried


def test_failed_claim_store_still_returns_202(owner, monkeypatch):
    def redis_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(idempotency, "accept", redis_down)

    req_id = submit(owner, "embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="lost-claim")

    assert stored_job(req_id)["status"] == "queued"


def test_replay_is_answered_even_when_queue_is_full(owner, settings):
    req_id = submit(owner, "embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="before-full")
    settings.REDGX_MAX_QUEUED_JOBS_PER_TASK = 1

    again = owner.post(f"{GPU}/embed", {"inputs": ["x"]}, HTTP_IDEMPOTENCY_KEY="before-full")
    assert again.status_code == 202
    assert again.json()["data"]["req_id"] == req_id


def test_concurrent_claims_let_one_request_submit():
    storage = idempotency.storage_key("alpha", "abcd1234", "race")
    fingerprint = idempotency.fingerprint("embed", {"inputs": ["x"]}, None)
    results, errors = [], []
    barrier = threading.Barrier(8)

    def claim(index: int) -> None:
        barrier.wait()
        try:
            results.append(idempotency.claim(storage, fingerprint, f"{index:032x}"))
        except Conflict as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results.count(None) == 1
    assert len(errors) == 7
    assert {error.get_codes() for error in errors} == {"idempotency_request_in_progress"}


# --- backpressure ----------------------------------------------------------------------


@pytest.fixture
def frozen_stats_clock(monkeypatch):
    now = time.time()
    monkeypatch.setattr(stats, "clock", lambda: now)
    return now


def test_full_task_queue_is_429_with_retry_after(owner, outsider, settings, frozen_stats_clock):
    settings.REDGX_MAX_QUEUED_JOBS_PER_TASK = 2
    for _ in range(2):
        submit(owner, "embed", {"inputs": ["x"]})
    for _ in range(30):
        stats.record_outcome("embed", "alpha", "done")

    response = owner.post(f"{GPU}/embed", {"inputs": ["x"]})
    from_other_namespace = outsider.post("/api/v1/ns/beta/gpu/embed", {"inputs": ["x"]})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "queue_full"
    expected = max(1, min(300, math.ceil(2 / stats.drain_rate("embed"))))
    assert response["Retry-After"] == str(expected)
    assert from_other_namespace.status_code == 429
    assert job_count() == 2
    assert stats.rejections(60)["queue_full"]["alpha"] > 0
    assert stats.rejections(60)["queue_full"]["beta"] > 0
    assert owner.post(f"{GPU}/ocr", VALID_BODIES["ocr"]).status_code == 202


def test_full_namespace_queue_leaves_other_namespaces(owner, outsider, settings):
    settings.REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE = 1
    submit(owner, "embed", {"inputs": ["x"]})

    response = owner.post(f"{GPU}/embed", {"inputs": ["y"]})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "queue_full"
    assert response["Retry-After"] == "300"
    assert outsider.post("/api/v1/ns/beta/gpu/embed", {"inputs": ["x"]}).status_code == 202
    assert job_count() == 2


def test_quota_limit_replaces_namespace_setting(owner, settings):
    settings.REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE = 100
    submit(owner, "embed", {"inputs": ["x"]})

    assert admission.queue_limits(None).namespace == 100
    assert admission.queue_limits(SimpleNamespace(max_queued_jobs=5)).namespace == 5
    roomy = admission.queue_limits(SimpleNamespace(max_queued_jobs=5))
    jobs.create_job("alpha", "embed", {"inputs": ["y"]}, limits=roomy)
    full = admission.queue_limits(SimpleNamespace(max_queued_jobs=2))
    with pytest.raises(queues.QueueFullError):
        jobs.create_job("alpha", "embed", {"inputs": ["z"]}, limits=full)
    assert job_count() == 2


def test_concurrent_submits_never_overshoot_limit():
    limits = queues.QueueLimits(task=1000, namespace=5)
    outcomes = []

    def submit_one(index: int) -> None:
        try:
            jobs.create_job("alpha", "embed", {"inputs": [f"text {index}"]}, limits=limits)
            outcomes.append("queued")
        except queues.QueueFullError as full:
            outcomes.append((full.scope, full.limit))

    threads = [threading.Thread(target=submit_one, args=(index,)) for index in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("queued") == 5
    assert outcomes.count(("namespace", 5)) == 25
    assert queues.queue_depth("embed", "alpha") == 5
    assert job_count() == 5


@pytest.mark.parametrize("backlog, rate, expected", [(10, 0.0, 300), (10, 5.0, 2), (1, 100.0, 1), (10**6, 1.0, 300)])
def test_retry_after_is_backlog_over_drain_rate(monkeypatch, backlog, rate, expected):
    monkeypatch.setattr(stats, "drain_rate", lambda task: rate)
    assert admission.retry_after_s("embed", backlog) == expected


@pytest.fixture
def inference_maxmemory():
    """Set the inference Redis's maxmemory for one test and restore it afterwards."""
    client = inference_redis()
    original = client.config_get("maxmemory")["maxmemory"]
    admission.forget_memory_sample()
    yield client
    client.config_set("maxmemory", original)
    admission.forget_memory_sample()


def test_inference_redis_near_maxmemory_is_503(owner, settings, inference_maxmemory):
    used = int(inference_maxmemory.info("memory")["used_memory"])
    inference_maxmemory.config_set("maxmemory", used * 4)
    settings.REDGX_INFERENCE_MEMORY_HIGH_WATER = 0.1

    response = owner.post(f"{GPU}/embed", {"inputs": ["x"]})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "inference_redis_full"
    assert int(response["Retry-After"]) >= 1
    assert job_count() == 0
    assert stats.rejections(60)["inference_redis_full"]["alpha"] > 0


def test_memory_below_high_water_is_accepted(owner, settings, inference_maxmemory):
    used = int(inference_maxmemory.info("memory")["used_memory"])
    inference_maxmemory.config_set("maxmemory", used * 4)
    settings.REDGX_INFERENCE_MEMORY_HIGH_WATER = 0.9

    assert owner.post(f"{GPU}/embed", {"inputs": ["x"]}).status_code == 202


def _parse_iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
