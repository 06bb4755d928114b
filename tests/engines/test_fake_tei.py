"""Tests of FakeTeiEngine over real HTTP on loopback."""

import math
import threading
import time

import httpx
import pytest

from tests.engines.fake_tei import EMBEDDING_DIMENSION, FakeTeiEngine, fake_embedding


@pytest.fixture
def engine():
    with FakeTeiEngine() as fake:
        yield fake


@pytest.fixture
def client():
    with httpx.Client(timeout=5.0) as http_client:
        yield http_client


def embed(client: httpx.Client, engine: FakeTeiEngine, inputs, **fields) -> httpx.Response:
    return client.post(f"{engine.url}/embed", json={"inputs": inputs, **fields})


def test_url_is_loopback_with_port(engine):
    assert engine.url.startswith("http://127.0.0.1:")
    assert int(engine.url.rsplit(":", 1)[1]) > 0


def test_embed_returns_unit_vector_per_input(engine, client):
    response = embed(client, engine, ["first text", "second text"])

    assert response.status_code == 200
    vectors = response.json()
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == EMBEDDING_DIMENSION
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)
    assert vectors[0] != vectors[1]


def test_embed_same_text_same_vector(engine, client):
    first = embed(client, engine, ["repeatable"]).json()[0]
    second = embed(client, engine, ["other", "repeatable"]).json()[1]

    assert first == second
    assert first == fake_embedding("repeatable")


def test_embed_single_string_input(engine, client):
    response = embed(client, engine, "just one")

    assert response.status_code == 200
    assert response.json() == [fake_embedding("just one")]
    assert engine.calls == [1]


def test_embed_normalize_false_returns_raw_vector(engine, client):
    vector = embed(client, engine, "raw", normalize=False).json()[0]

    assert vector == fake_embedding("raw", normalize=False)
    assert math.sqrt(sum(x * x for x in vector)) > 2.0


def test_calls_record_batch_sizes_including_failures(engine, client):
    embed(client, engine, ["a", "b", "c"])
    embed(client, engine, [])
    client.post(f"{engine.url}/embed", content=b"{not json", headers={"Content-Type": "application/json"})
    embed(client, engine, "d")

    assert engine.calls == [3, 0, 0, 1]


def test_fail_next_fails_count_calls_then_recovers(engine, client):
    engine.fail_next(503, count=2)

    statuses = [embed(client, engine, ["x"]).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert engine.calls == [1, 1, 1]


def test_fail_next_body_is_tei_error(engine, client):
    engine.fail_next(424)

    response = embed(client, engine, ["x"])

    assert response.status_code == 424
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error_type"] == "Backend"
    assert response.json()["error"]


def test_fail_next_rejects_invalid_arguments(engine):
    with pytest.raises(ValueError, match="status"):
        engine.fail_next(200)
    with pytest.raises(ValueError, match="count"):
        engine.fail_next(500, count=0)


def test_reject_marker_returns_422(engine, client):
    engine.reject_marker = "<poison>"

    rejected = embed(client, engine, ["fine", "has <poison> inside"])
    accepted = embed(client, engine, ["fine"])

    assert rejected.status_code == 422
    assert rejected.json()["error_type"] == "Tokenizer"
    assert accepted.status_code == 200


def test_empty_batch_returns_400(engine, client):
    response = embed(client, engine, [])

    assert response.status_code == 400
    assert response.json() == {"error": "`inputs` cannot be empty", "error_type": "Empty"}


def test_batch_over_limit_returns_413(engine, client):
    engine.max_client_batch_size = 2

    response = embed(client, engine, ["a", "b", "c"])

    assert response.status_code == 413
    assert response.json() == {"error": "batch size 3 > maximum allowed batch size 2", "error_type": "Validation"}
    assert embed(client, engine, ["a", "b"]).status_code == 200


def test_long_input_returns_413_unless_truncate(engine, client):
    engine.max_input_length = 10
    long_text = "word " * 20

    rejected = embed(client, engine, [long_text])
    truncated = embed(client, engine, [long_text], truncate=True)

    assert rejected.status_code == 413
    assert rejected.json()["error_type"] == "Validation"
    assert "must have less than 10 tokens. Given: 22" in rejected.json()["error"]
    assert truncated.status_code == 200


def test_malformed_requests_return_axum_rejections(engine, client):
    url = f"{engine.url}/embed"
    cases = [
        (client.post(url, content=b'{"inputs": [', headers={"Content-Type": "application/json"}), 400),
        (client.post(url, content=b'{"inputs": "x"}', headers={"Content-Type": "text/plain"}), 415),
        (client.post(url, json={"inputs": [1, 2]}), 422),
        (client.post(url, json={"input": "x"}), 422),
        (client.post(url, json={"inputs": "x", "normalize": "yes"}), 422),
    ]

    for response, expected_status in cases:
        assert response.status_code == expected_status, response.text
        assert response.headers["content-type"].startswith("text/plain")


def test_healthy_false_returns_503(engine, client):
    assert client.get(f"{engine.url}/health").status_code == 200

    engine.healthy = False
    response = client.get(f"{engine.url}/health")

    assert response.status_code == 503
    assert response.json() == {"error": "unhealthy", "error_type": "Unhealthy"}


def test_info_reports_limits(engine, client):
    engine.max_client_batch_size = 8

    info = client.get(f"{engine.url}/info").json()

    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_client_batch_size"] == 8
    assert info["max_input_length"] == 256
    assert info["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_latency_delays_embed(engine, client):
    engine.latency_s = 0.3

    started = time.monotonic()
    response = embed(client, engine, ["slow"])
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.3


def test_hang_times_out_client_and_stop_is_quick(engine, client):
    engine.hang = True
    outcome = {}

    def call_with_long_timeout():
        try:
            outcome["response"] = httpx.post(f"{engine.url}/embed", json={"inputs": ["x"]}, timeout=30.0)
        except httpx.HTTPError as error:
            outcome["error"] = error

    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{engine.url}/embed", json={"inputs": ["x"]}, timeout=0.3)

    waiting_call = threading.Thread(target=call_with_long_timeout)
    waiting_call.start()
    time.sleep(0.2)
    started = time.monotonic()
    engine.stop()
    stop_s = time.monotonic() - started
    waiting_call.join(timeout=5)

    assert stop_s < 2.0
    assert not waiting_call.is_alive()
    assert "response" not in outcome
    assert isinstance(outcome["error"], httpx.RemoteProtocolError | httpx.ReadError)


def test_stopped_engine_refuses_connections(engine, client):
    url = engine.url
    engine.stop()

    with pytest.raises(httpx.ConnectError):
        client.get(f"{url}/health")


def test_restart_keeps_url(engine, client):
    url = engine.url
    engine.stop()
    engine.start()

    assert engine.url == url
    assert client.get(f"{engine.url}/health").status_code == 200


def test_reset_clears_calls_and_switches(engine, client):
    engine.latency_s = 1.0
    engine.hang = True
    engine.healthy = False
    engine.reject_marker = "x"
    engine.max_client_batch_size = 1
    engine.fail_next(500, count=3)
    engine._record_call(5)

    engine.reset()

    assert engine.calls == []
    assert engine.latency_s == 0.0
    assert engine.hang is False
    assert engine.healthy is True
    assert engine.reject_marker is None
    assert engine.max_client_batch_size == 32
    assert embed(client, engine, ["x", "y"]).status_code == 200


def test_switches_safe_under_concurrent_calls(engine):
    engine.latency_s = 0.05
    statuses = []
    lock = threading.Lock()

    def call():
        response = httpx.post(f"{engine.url}/embed", json={"inputs": ["a", "b"]}, timeout=5.0)
        with lock:
            statuses.append(response.status_code)

    engine.fail_next(503, count=5)
    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(statuses) == 20
    assert statuses.count(503) == 5
    assert statuses.count(200) == 15
    assert engine.calls == [2] * 20
