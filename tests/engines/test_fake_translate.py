"""The fake translation engine over raw HTTP, checked against the RedGX translate protocol."""

import httpx
import pytest

from .fake_translate import FakeTranslateEngine, fake_translation


@pytest.fixture
def engine():
    with FakeTranslateEngine(max_batch_size=2) as fake:
        yield fake


def test_info_lists_pairs_and_limit(engine):
    info = httpx.get(f"{engine.url}/info").json()
    assert info["pairs"] == [["en", "pt-BR"], ["pt-BR", "en"]]
    assert info["max_batch_size"] == 2


def test_translation_round_trips():
    there = fake_translation("Good morning", "en", "pt-BR")
    assert there == "[pt-BR] gninrom dooG"
    assert fake_translation(there, "pt-BR", "en") == "Good morning"


def test_translate_keeps_order(engine):
    reply = httpx.post(f"{engine.url}/translate", json={"texts": ["ab", "cd"], "source": "en", "target": "pt-BR"})
    assert reply.json()["translations"] == ["[pt-BR] ba", "[pt-BR] dc"]


def test_unsupported_pair_is_422(engine):
    reply = httpx.post(f"{engine.url}/translate", json={"texts": ["x"], "source": "en", "target": "de"})
    assert reply.status_code == 422
    assert reply.json()["error_type"] == "unsupported_pair"


def test_batch_over_limit_is_413(engine):
    reply = httpx.post(f"{engine.url}/translate", json={"texts": ["a", "b", "c"], "source": "en", "target": "pt-BR"})
    assert reply.status_code == 413
    assert engine.batch_sizes == [3]


def test_malformed_body_is_400(engine):
    reply = httpx.post(f"{engine.url}/translate", content=b"{", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    reply = httpx.post(f"{engine.url}/translate", content=b"{}", headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415
