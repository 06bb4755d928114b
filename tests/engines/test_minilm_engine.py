"""End-to-end tests of deploy/engines/minilm/server.py with the real all-MiniLM-L6-v2 model.

The server runs as a subprocess of the engine venv (.venv-engine, built by `make engine-venv`) on a
free loopback port. Startup, mostly importing torch and loading the model, takes about 6 s.
"""

import math
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = REPO_ROOT / ".venv-engine" / "bin" / "python"
SERVER_SCRIPT = REPO_ROOT / "deploy" / "engines" / "minilm" / "server.py"
MAX_CLIENT_BATCH_SIZE = 4
STARTUP_TIMEOUT_S = 60.0
EMBEDDING_DIMENSION = 384


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path) -> list[httpx.Response]:
    """Poll /health until 200 and return every response seen. Fail if the process exits or time runs out."""
    responses = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"engine exited with code {process.returncode} during startup:\n{log_path.read_text()}")
            try:
                response = client.get(f"{url}/health")
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            responses.append(response)
            if response.status_code == 200:
                return responses
            time.sleep(0.1)
    pytest.fail(f"engine was not healthy after {STARTUP_TIMEOUT_S:.0f} s:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """Start the engine, yield (url, /health responses seen during startup), then stop it."""
    if not ENGINE_PYTHON.exists():
        pytest.fail(f"engine venv not found at {ENGINE_PYTHON}: build it with `make engine-venv`")

    port = find_free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "ENGINE_HOST": "127.0.0.1",
        "ENGINE_PORT": str(port),
        "ENGINE_MAX_CLIENT_BATCH_SIZE": str(MAX_CLIENT_BATCH_SIZE),
        "ENGINE_TORCH_THREADS": "2",
    }
    log_path = tmp_path_factory.mktemp("minilm-engine") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(ENGINE_PYTHON), str(SERVER_SCRIPT)],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        startup_responses = wait_until_healthy(url, process, log_path)
        yield url, startup_responses
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def url(engine) -> str:
    return engine[0]


@pytest.fixture
def client():
    with httpx.Client(timeout=30.0) as http_client:
        yield http_client


def embed(client: httpx.Client, url: str, inputs, **fields) -> httpx.Response:
    return client.post(f"{url}/embed", json={"inputs": inputs, **fields})


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_health_503_until_model_loaded(engine):
    _, startup_responses = engine
    not_ready = [response for response in startup_responses if response.status_code != 200]

    # The model takes seconds to load while the server listens within a second, so polling every
    # 0.1 s gets at least one 503 first.
    assert not_ready, "no 503 seen before the model was loaded"
    assert {response.status_code for response in not_ready} == {503}
    assert not_ready[0].json() == {"error": "unhealthy", "error_type": "Unhealthy"}
    assert startup_responses[-1].status_code == 200


def test_info_has_tei_shape(url, client):
    response = client.get(f"{url}/info")

    assert response.status_code == 200
    info = response.json()
    assert info["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["model_dtype"] == "float32"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256
    assert info["max_client_batch_size"] == MAX_CLIENT_BATCH_SIZE
    assert info["max_concurrent_requests"] == 512
    assert info["max_batch_tokens"] == 16384
    assert isinstance(info["version"], str)


def test_embed_batch_returns_vector_per_input(url, client):
    response = embed(client, url, ["The cat sits on the mat.", "Quantum computers use qubits."])

    assert response.status_code == 200
    vectors = response.json()
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == EMBEDDING_DIMENSION
        assert all(isinstance(x, float) for x in vector)
        assert math.isclose(norm(vector), 1.0, abs_tol=1e-5)
    assert int(response.headers["x-compute-tokens"]) > 0


def test_embed_paraphrase_is_most_similar(url, client):
    guitar, instrument, market = embed(
        client,
        url,
        ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."],
    ).json()

    paraphrase = cosine(guitar, instrument)

    assert paraphrase > cosine(guitar, market)
    assert paraphrase > cosine(instrument, market)


def test_embed_single_string_matches_batch(url, client):
    text = "Someone plays an instrument."

    single = embed(client, url, text)
    batch = embed(client, url, ["unrelated filler", text])

    assert single.status_code == 200
    assert len(single.json()) == 1
    assert cosine(single.json()[0], batch.json()[1]) > 0.9999


def test_embed_normalize_false_returns_raw_mean_pooling(url, client):
    text = "A man is playing a guitar."

    normalized = embed(client, url, text).json()[0]
    raw = embed(client, url, text, normalize=False).json()[0]

    assert norm(raw) > 1.5
    assert cosine(raw, normalized) > 0.9999


def test_empty_batch_returns_400(url, client):
    response = embed(client, url, [])

    assert response.status_code == 400
    assert response.json() == {"error": "`inputs` cannot be empty", "error_type": "Empty"}


def test_batch_over_limit_returns_413(url, client):
    response = embed(client, url, ["x"] * (MAX_CLIENT_BATCH_SIZE + 1))

    assert response.status_code == 413
    assert response.json() == {
        "error": f"batch size {MAX_CLIENT_BATCH_SIZE + 1} > maximum allowed batch size {MAX_CLIENT_BATCH_SIZE}",
        "error_type": "Validation",
    }


def test_long_input_returns_413_without_truncate(url, client):
    long_text = "word " * 300  # 300 WordPiece tokens plus [CLS] and [SEP]

    response = embed(client, url, ["short", long_text])

    assert response.status_code == 413
    assert response.json() == {
        "error": "Input validation error: `inputs` must have less than 256 tokens. Given: 302",
        "error_type": "Validation",
    }


def test_long_input_truncated_on_request(url, client):
    response = embed(client, url, ["word " * 300], truncate=True)

    assert response.status_code == 200
    assert len(response.json()[0]) == EMBEDDING_DIMENSION
    assert response.headers["x-compute-tokens"] == "256"


def test_malformed_json_returns_400_text(url, client):
    response = client.post(f"{url}/embed", content=b'{"inputs": [', headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Failed to parse the request body as JSON: ")


def test_wrong_schema_returns_422_text(url, client):
    cases = [{"inputs": [1, 2]}, {"input": "x"}, {"inputs": "x", "normalize": "yes"}, ["x"]]

    for body in cases:
        response = client.post(f"{url}/embed", json=body)
        assert response.status_code == 422, body
        assert response.text.startswith("Failed to deserialize the JSON body into the target type: "), body


def test_missing_content_type_returns_415(url, client):
    response = client.post(f"{url}/embed", content=b'{"inputs": "x"}', headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.text == "Expected request with `Content-Type: application/json`"
