"""The reference flow: embed requests through the gateway, a worker and the real MiniLM engine."""

import math

import pytest

from tests.conftest import start_worker
from tests.inference_support import submit, wait_for_final

from .test_minilm_engine import MAX_CLIENT_BATCH_SIZE, engine  # noqa: F401  (a module-scoped fixture)

pytestmark = pytest.mark.engine


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_similar_sentences_are_closer_than_unrelated(owner, engine):  # noqa: F811
    url, _startup = engine
    worker = start_worker("minilm-worker", url, REDGX_EMBED_BATCH_SIZE=str(MAX_CLIENT_BATCH_SIZE))
    try:
        pair = submit(owner, {"inputs": ["A man is playing a guitar.", "Someone plays an instrument."]})
        other = submit(owner, {"inputs": "The stock market fell sharply today."})
        pair_data = wait_for_final(owner, pair, worker, timeout=60)
        other_data = wait_for_final(owner, other, worker, timeout=60)
    finally:
        worker.stop()

    assert pair_data["status"] == "done"
    guitar, instrument = pair_data["vectors"]
    assert len(guitar) == len(instrument) == 384
    (market,) = other_data["vectors"]
    similar = cosine(guitar, instrument)
    assert similar > cosine(guitar, market)
    assert similar > cosine(instrument, market)
