"""Every inference task through the API, a real Dramatiq worker process and fake engines on loopback."""

import base64
import time
from datetime import datetime

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.inference import jobs

from .conftest import ApiClient, start_worker
from .engines.fake_ocr import FakeOcrEngine, make_pdf, make_png
from .engines.fake_openai import FakeOpenAIEngine, fake_completion
from .engines.fake_tei import FakeTeiEngine, fake_embedding
from .engines.fake_transcription import FakeTranscriptionEngine, fake_transcript, make_wav
from .engines.fake_translate import FakeTranslateEngine, fake_translation

GPU = "/api/v1/ns/alpha/gpu"
FINAL = {"done", "failed"}


class Engines:
    """One fake engine per protocol family, running for the whole module."""

    def __init__(self):
        self.tei = FakeTeiEngine()
        self.openai = FakeOpenAIEngine()
        self.translate = FakeTranslateEngine()
        self.stt = FakeTranscriptionEngine()
        self.ocr = FakeOcrEngine()
        self.all = [self.tei, self.openai, self.translate, self.stt, self.ocr]

    def reset(self) -> None:
        for engine in self.all:
            engine.reset()


@pytest.fixture(scope="module")
def engines():
    fakes = Engines()
    for engine in fakes.all:
        engine.start()
    yield fakes
    for engine in fakes.all:
        engine.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup, engines):
    process = start_worker(
        "inference-tasks-worker",
        engines.tei.url,
        REDGX_GENERATE_ENGINE_URL=engines.openai.url,
        REDGX_GENERATE_MODEL="fake-llm",
        REDGX_TRANSLATE_ENGINE_URL=engines.translate.url,
        REDGX_STT_ENGINE_URL=engines.stt.url,
        REDGX_STT_MODEL="fake-whisper",
        REDGX_OCR_ENGINE_URL=engines.ocr.url,
    )
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def fresh_engines(engines):
    engines.reset()
    yield


def submit(client: ApiClient, task: str, body: dict | None = None, *, files: dict | None = None) -> str:
    if files is not None:
        response = client.client.post(f"{GPU}/{task}", {**(body or {}), **files}, HTTP_X_API_KEY=client.key)
    else:
        response = client.post(f"{GPU}/{task}", body)
    assert response.status_code == 202, response.content
    return response.json()["data"]["req_id"]


def wait_for_final(client: ApiClient, task: str, req_id: str, worker, timeout: float = 30) -> dict:
    """Long-poll the status until the job is final; fail with the worker's log after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"{GPU}/{task}/{req_id}?wait=5")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        if data["status"] in FINAL:
            return data
    raise AssertionError(f"job {req_id} did not finish; worker output:\n{worker.output()[-4000:]}")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- happy paths -----------------------------------------------------------------------


def test_embed_end_to_end(owner, worker):
    req_id = submit(owner, "embed", {"inputs": ["A man plays a guitar.", "Someone plays music."]})

    data = wait_for_final(owner, "embed", req_id, worker)

    assert data["status"] == "done", data
    assert data["vectors"] == [fake_embedding("A man plays a guitar."), fake_embedding("Someone plays music.")]
    assert data["dimensions"] == 384


def test_generate_prompt_end_to_end(owner, worker):
    req_id = submit(owner, "generate", {"prompt": "one two three", "max_tokens": 8})

    data = wait_for_final(owner, "generate", req_id, worker)

    assert data["status"] == "done", data
    text, finish_reason = fake_completion("one two three", 8)
    assert data["text"] == text
    assert data["finish_reason"] == finish_reason
    assert data["model"] == "fake-llm"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 3}
    assert "message" not in data


def test_generate_chat_end_to_end(owner, worker):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "red green blue"}]
    req_id = submit(owner, "generate", {"messages": messages, "max_tokens": 2})

    data = wait_for_final(owner, "generate", req_id, worker)

    assert data["status"] == "done", data
    text, finish_reason = fake_completion("red green blue", 2)
    assert data["text"] == text
    assert data["finish_reason"] == finish_reason == "length"
    assert data["message"] == {"role": "assistant", "content": text}
    assert data["usage"]["prompt_tokens"] == 5


def test_translate_end_to_end(owner, worker):
    texts = ["Good morning", "How are you?"]
    req_id = submit(owner, "translate", {"texts": texts, "source": "en", "target": "pt-br"})

    data = wait_for_final(owner, "translate", req_id, worker)

    assert data["status"] == "done", data
    assert data["translations"] == [fake_translation(text, "en", "pt-BR") for text in texts]
    assert data["source"] == "en"
    assert data["target"] == "pt-BR"


def test_stt_base64_end_to_end(owner, worker):
    audio = make_wav(0.25)
    req_id = submit(owner, "stt", {"audio_base64": base64.b64encode(audio).decode(), "response_format": "verbose_json"})

    data = wait_for_final(owner, "stt", req_id, worker)

    assert data["status"] == "done", data
    assert data["text"] == fake_transcript(audio)
    assert data["language"] == "en"
    assert data["duration"] == pytest.approx(0.25)
    assert data["segments"][0]["text"] == fake_transcript(audio)


def test_stt_multipart_end_to_end(owner, worker, engines):
    audio = make_wav(0.5, frequency_hz=220)
    upload = SimpleUploadedFile("speech.wav", audio, content_type="audio/wav")
    req_id = submit(owner, "stt", {"language": "pt"}, files={"audio": upload})

    data = wait_for_final(owner, "stt", req_id, worker)

    assert data["status"] == "done", data
    assert data["text"] == fake_transcript(audio)
    assert engines.stt.calls[-1].params["language"] == "pt"


def test_stt_text_format_returns_body_as_text(owner, worker):
    audio = make_wav(0.25)
    req_id = submit(owner, "stt", {"audio_base64": base64.b64encode(audio).decode(), "response_format": "srt"})

    data = wait_for_final(owner, "stt", req_id, worker)

    assert data["status"] == "done", data
    assert data["text"].startswith("1\n00:00:00,000 --> ")
    assert fake_transcript(audio) in data["text"]


def test_ocr_base64_end_to_end(owner, worker):
    document = make_png("Invoice 42")
    body = {"document_base64": base64.b64encode(document).decode(), "content_type": "image/png"}
    req_id = submit(owner, "ocr", body)

    data = wait_for_final(owner, "ocr", req_id, worker)

    assert data["status"] == "done", data
    assert data["text"] == "Invoice 42"
    assert data["pages"][0]["page"] == 1
    assert data["pages"][0]["lines"][0]["text"] == "Invoice 42"
    assert len(data["pages"][0]["lines"][0]["box"]) == 4


def test_ocr_multipart_pdf_end_to_end(owner, worker):
    upload = SimpleUploadedFile("scan.pdf", make_pdf(2), content_type="application/pdf")
    req_id = submit(owner, "ocr", files={"document": upload})

    data = wait_for_final(owner, "ocr", req_id, worker)

    assert data["status"] == "done", data
    assert [page["page"] for page in data["pages"]] == [1, 2]
    assert "\n\n" in data["text"]


# --- status, long-poll, cancel ---------------------------------------------------------


def test_done_status_has_expiry_and_timing(owner, worker):
    req_id = submit(owner, "embed", {"inputs": ["timed"]})

    data = wait_for_final(owner, "embed", req_id, worker)

    assert data["status"] == "done", data
    assert data["attempts"] == 1
    assert data["deliveries"] == 1
    finished = parse_iso(data["finished_at"])
    assert parse_iso(data["created_at"]) <= parse_iso(data["started_at"]) <= finished
    assert parse_iso(data["expires_at"]) == pytest.approx(finished + settings.REDGX_RESULT_TTL_S, abs=2)
    assert parse_iso(data["deadline_at"]) > parse_iso(data["created_at"])
    timing = data["timing"]
    for name in ("queued_ms", "batch_wait_ms", "engine_ms", "total_ms"):
        assert isinstance(timing[name], int), name
        assert timing[name] >= 0, name
    assert timing["total_ms"] >= timing["engine_ms"]


def test_wait_returns_when_job_finishes(owner, worker, engines):
    engines.translate.latency_s = 1.0
    req_id = submit(owner, "translate", {"texts": ["slow"], "source": "en", "target": "pt-BR"})

    started = time.monotonic()
    response = owner.get(f"{GPU}/translate/{req_id}?wait=15")
    waited = time.monotonic() - started

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "done"
    assert response.json()["data"]["translations"] == [fake_translation("slow", "en", "pt-BR")]
    # Generous bound: the response came at completion, not when the 15 s wait ran out.
    assert waited < 12


def test_cancel_processing_job(owner, worker, engines):
    engines.ocr.latency_s = 3.0
    document = make_png("late")
    body = {"document_base64": base64.b64encode(document).decode(), "content_type": "image/png"}
    req_id = submit(owner, "ocr", body)
    deadline = time.monotonic() + 10
    while jobs.get_job(req_id).status != jobs.JobStatus.PROCESSING:
        assert time.monotonic() < deadline, worker.output()[-3000:]
        time.sleep(0.05)

    response = owner.delete(f"{GPU}/ocr/{req_id}")

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"req_id": req_id, "outcome": "cancelled", "status": "failed"}
    # The engine's late reply must not overwrite the cancellation.
    time.sleep(3.5)
    data = owner.get(f"{GPU}/ocr/{req_id}").json()["data"]
    assert data["status"] == "failed"
    assert data["error"]["code"] == "cancelled"
    assert "pages" not in data


def test_delete_finished_job_drops_result(owner, worker):
    req_id = submit(owner, "embed", {"inputs": ["short-lived"]})
    assert wait_for_final(owner, "embed", req_id, worker)["status"] == "done"

    response = owner.delete(f"{GPU}/embed/{req_id}")

    assert response.status_code == 200
    assert response.json()["data"]["outcome"] == "dropped"
    gone = owner.get(f"{GPU}/embed/{req_id}")
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "result_expired"


# --- backpressure ----------------------------------------------------------------------


def test_full_queue_rejects_and_loses_nothing(owner, worker, engines, settings):
    # The worker's 40 threads each hold one job while its engine call runs, so 80 quick
    # submits against a slow engine fill the 4 queue places behind them.
    settings.REDGX_MAX_QUEUED_JOBS_PER_TASK = 4
    engines.translate.latency_s = 1.0
    accepted, rejected = [], []
    for number in range(80):
        response = owner.post(f"{GPU}/translate", {"texts": [f"text {number}"], "source": "en", "target": "pt-BR"})
        if response.status_code == 202:
            accepted.append((number, response.json()["data"]["req_id"]))
        else:
            assert response.status_code == 429, response.content
            assert response.json()["error"]["code"] == "queue_full"
            assert 1 <= int(response["Retry-After"]) <= 300
            rejected.append(number)

    assert rejected, "the queue limit never rejected a submit"
    assert len(accepted) >= 4
    for number, req_id in accepted:
        data = wait_for_final(owner, "translate", req_id, worker)
        assert data["status"] == "done", data
        assert data["translations"] == [fake_translation(f"text {number}", "en", "pt-BR")]
