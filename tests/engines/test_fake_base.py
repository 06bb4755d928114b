"""Switches shared by every fake engine, and running a fake as a standalone process."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port
from .fake_translate import FakeTranslateEngine

REPO_ROOT = Path(__file__).resolve().parents[2]
BODY = {"texts": ["hello"], "source": "en", "target": "pt-BR"}


@pytest.fixture
def engine():
    with FakeTranslateEngine() as fake:
        yield fake


def test_fail_next_queues_statuses_in_order(engine):
    engine.fail_next(429)
    engine.fail_next(503, count=2, error_type="overloaded")
    statuses = [httpx.post(f"{engine.url}/translate", json=BODY).status_code for _ in range(4)]
    assert statuses == [429, 503, 503, 200]
    reply = httpx.post(f"{engine.url}/translate", json=BODY)
    assert reply.status_code == 200


def test_fail_next_body_carries_error_type(engine):
    engine.fail_next(503, error_type="overloaded")
    reply = httpx.post(f"{engine.url}/translate", json=BODY)
    assert reply.json() == {"error": "fake failure with status 503", "error_type": "overloaded"}


def test_fail_next_rejects_bad_arguments(engine):
    with pytest.raises(ValueError):
        engine.fail_next(200)
    with pytest.raises(ValueError):
        engine.fail_next(503, count=0)


def test_failure_rate_repeats_with_seed():
    def run() -> list[int]:
        with FakeTranslateEngine(seed=7) as fake:
            fake.failure_rate = 0.5
            fake.failure_status = 500
            return [httpx.post(f"{fake.url}/translate", json=BODY).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 500}


def test_calls_record_sizes_and_request_ids(engine):
    httpx.post(f"{engine.url}/translate", json={**BODY, "texts": ["a", "b"]}, headers={"X-Request-Id": "one"})
    engine.fail_next(503)
    httpx.post(f"{engine.url}/translate", json=BODY, headers={"X-Request-Id": "two"})
    httpx.get(f"{engine.url}/info")
    assert engine.batch_sizes == [2, 1]
    assert engine.request_ids == ["one", "two"]
    assert engine.calls[0].params == {"source": "en", "target": "pt-BR"}


def test_health_switch(engine):
    assert httpx.get(f"{engine.url}/health").status_code == 200
    engine.healthy = False
    assert httpx.get(f"{engine.url}/health").status_code == 503


def test_latency_delays_reply(engine):
    engine.latency_s = 0.3
    started = time.monotonic()
    httpx.post(f"{engine.url}/translate", json=BODY)
    assert time.monotonic() - started >= 0.3


def test_stop_ends_hanging_call(engine):
    engine.hang = True
    outcome = []

    def post():
        try:
            httpx.post(f"{engine.url}/translate", json=BODY, timeout=30)
        except httpx.HTTPError as error:
            outcome.append(type(error).__name__)

    caller = threading.Thread(target=post)
    caller.start()
    deadline = time.monotonic() + 5
    while not engine.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.stop()
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert outcome == ["RemoteProtocolError"]


def test_reset_restores_defaults(engine):
    engine.latency_s = 1
    engine.max_batch_size = 1
    engine.malformed_replies = True
    engine.fail_next(503)
    httpx.post(f"{engine.url}/translate", json=BODY)
    engine.reset()
    assert engine.calls == []
    assert engine.latency_s == 0
    assert engine.max_batch_size == 16
    assert engine.malformed_replies is False


def test_restart_keeps_url(engine):
    url = engine.url
    engine.stop()
    engine.start()
    assert engine.url == url
    assert httpx.get(f"{url}/health").status_code == 200


@pytest.mark.parametrize("module", ["fake_openai", "fake_translate", "fake_transcription", "fake_ocr"])
def test_standalone_process_serves_health(module):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", f"tests.engines.{module}", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip().endswith(f"listening on http://127.0.0.1:{port}"), line
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
