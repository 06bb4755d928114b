"""Translate, OCR and STT jobs through the gateway, a real Dramatiq worker and the reference engines."""

import base64
import re
import time

import pytest

from tests.conftest import start_worker

from .test_ocr_engine import draw_page, encode, normalized
from .test_ocr_engine import engine as ocr_engine  # noqa: F401  (a module-scoped fixture)
from .test_translate_engine import engine as translate_engine  # noqa: F401  (a module-scoped fixture)
from .test_whisper_engine import engine as whisper_engine  # noqa: F401  (a module-scoped fixture)
from .test_whisper_engine import speech_wav  # noqa: F401  (a module-scoped fixture)

pytestmark = pytest.mark.reference_engines

JOB_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def worker(translate_engine, ocr_engine, whisper_engine):  # noqa: F811
    # The embed URL is required by start_worker, and no embed job is sent here.
    process = start_worker(
        "reference-engines-worker",
        "http://127.0.0.1:9",
        REDGX_TRANSLATE_ENGINE_URL=translate_engine.url,
        REDGX_OCR_ENGINE_URL=ocr_engine.url,
        REDGX_STT_ENGINE_URL=whisper_engine.url,
    )
    yield process
    process.stop()


def run_job(client, worker, task: str, body: dict) -> dict:
    path = f"/api/v1/ns/alpha/gpu/{task}"
    submitted = client.post(path, body)
    assert submitted.status_code == 202, submitted.content
    req_id = submitted.json()["data"]["req_id"]

    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        response = client.get(f"{path}/{req_id}")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        if data["status"] in {"done", "failed"}:
            return data
        time.sleep(0.1)
    raise AssertionError(f"{task} job {req_id} did not finish; worker output:\n{worker.output()[-4000:]}")


def test_translate_job_round_trip(owner, worker):
    to_portuguese = run_job(
        owner, worker, "translate", {"texts": ["How are you today?"], "source": "en", "target": "pt-BR"}
    )

    assert to_portuguese["status"] == "done", to_portuguese
    assert to_portuguese["translations"] == ["Como você está hoje?"]
    assert (to_portuguese["source"], to_portuguese["target"]) == ("en", "pt-BR")

    back = run_job(
        owner, worker, "translate", {"texts": to_portuguese["translations"], "source": "pt-BR", "target": "en"}
    )

    assert back["status"] == "done", back
    assert back["translations"] == ["How are you today?"]


def test_ocr_job_reads_pdf(owner, worker):
    pdf = encode(draw_page(["Hello RedGX engine", "Order 12345 shipped"]), "PDF")
    body = {"document_base64": base64.b64encode(pdf).decode(), "content_type": "application/pdf"}

    result = run_job(owner, worker, "ocr", body)

    assert result["status"] == "done", result
    assert [page["page"] for page in result["pages"]] == [1]
    assert "helloredgxengine" in normalized(result["text"])
    assert "order12345shipped" in normalized(result["text"])


def test_stt_job_transcribes_speech(owner, worker, speech_wav):  # noqa: F811
    body = {"audio_base64": base64.b64encode(speech_wav).decode(), "response_format": "verbose_json"}

    result = run_job(owner, worker, "stt", body)

    assert result["status"] == "done", result
    heard = " ".join(re.findall(r"[a-z]+", result["text"].lower()))
    assert "lazy dog" in heard, result["text"]
    assert "send the report" in heard, result["text"]
    assert result["language"] == "en"
    assert 4 < result["duration"] < 8
    assert result["segments"]
