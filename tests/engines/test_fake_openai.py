"""The fake OpenAI-compatible engine over raw HTTP, as vLLM answers."""

import httpx
import pytest

from .fake_openai import FakeOpenAIEngine, fake_completion


@pytest.fixture
def engine():
    with FakeOpenAIEngine() as fake:
        yield fake


def test_models_lists_served_model(engine):
    reply = httpx.get(f"{engine.url}/v1/models").json()
    assert [model["id"] for model in reply["data"]] == ["fake-llm"]


def test_completions_answer_each_prompt(engine):
    reply = httpx.post(f"{engine.url}/v1/completions", json={"prompt": ["a b", "c d e"], "max_tokens": 2}).json()
    assert [choice["index"] for choice in reply["choices"]] == [0, 1]
    assert [choice["text"] for choice in reply["choices"]] == ["b a", "e d"]
    assert [choice["finish_reason"] for choice in reply["choices"]] == ["stop", "length"]
    assert reply["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_fake_completion_applies_stop():
    assert fake_completion("one two three", 10, ["two"]) == ("three ", "stop")
    assert fake_completion("one two three", 2) == ("three two", "length")


def test_chat_answers_last_user_message(engine):
    messages = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second question"},
    ]
    reply = httpx.post(f"{engine.url}/v1/chat/completions", json={"messages": messages}).json()
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "question second"}


def test_context_length_error_is_openai_shaped(engine):
    engine.max_model_len = 2
    reply = httpx.post(f"{engine.url}/v1/completions", json={"prompt": "a b c"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert "maximum context length is 2 tokens" in error["message"]
    assert error["type"] == "BadRequestError"


def test_unknown_model_is_404(engine):
    reply = httpx.post(f"{engine.url}/v1/completions", json={"prompt": "a", "model": "gpt-9"})
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "NotFoundError"


def test_reject_marker_is_400(engine):
    engine.reject_marker = "POISON"
    reply = httpx.post(f"{engine.url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "POISON"}]})
    assert reply.status_code == 400
    assert engine.batch_sizes == [1]


def test_shuffle_choices_reverses_order(engine):
    engine.shuffle_choices = True
    reply = httpx.post(f"{engine.url}/v1/completions", json={"prompt": ["a", "b", "c"]}).json()
    assert [choice["index"] for choice in reply["choices"]] == [2, 1, 0]


def test_empty_prompt_list_is_400(engine):
    reply = httpx.post(f"{engine.url}/v1/completions", json={"prompt": []})
    assert reply.status_code == 400
    assert engine.batch_sizes == [0]
