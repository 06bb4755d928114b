"""A fake OpenAI-compatible generation server (vLLM-like) for tests and bench/.

It serves POST /v1/completions (a list of prompts per call), POST /v1/chat/completions
(one conversation per call), GET /v1/models and GET /health, with OpenAI's error body
``{"error": {"message", "type", "code"}}``. Outputs derive from the input, so tests can
assert them (see fake_completion). Extra switches beside FakeEngine's:

- max_model_len: a prompt (or chat) with more words than this fails with 400 and vLLM's
  "maximum context length" message.
- reject_marker: a prompt or message containing it fails with 400.
- shuffle_choices: /v1/completions returns its choices in reverse order, so a client
  must match them by ``index``.

    python -m tests.engines.fake_openai --port 8082
"""

from __future__ import annotations

from .fake_base import FakeEngine, LockedSwitch, Rejected, Reply, Request, decode_json_body, run_standalone

MODEL_ID = "fake-llm"
DEFAULT_MAX_MODEL_LEN = 2048
DEFAULT_MAX_TOKENS = 16

_ERROR_TYPE_BY_STATUS = {400: "BadRequestError", 404: "NotFoundError", 413: "BadRequestError", 422: "BadRequestError"}


def fake_completion(
    prompt: str, max_tokens: int = DEFAULT_MAX_TOKENS, stop: list[str] | None = None
) -> tuple[str, str]:
    """Return (text, finish_reason): the prompt's words in reverse order, at most max_tokens of them.

    Each word counts as one token. The text stops before the first stop sequence
    (finish_reason "stop"); cut at max_tokens it ends with finish_reason "length".
    """
    words = list(reversed(prompt.split()))
    finish_reason = "length" if len(words) > max_tokens else "stop"
    text = " ".join(words[:max_tokens])
    for sequence in stop or []:
        if sequence in text:
            text = text[: text.index(sequence)]
            finish_reason = "stop"
    return text, finish_reason


def count_words(text: str) -> int:
    return len(text.split())


class FakeOpenAIEngine(FakeEngine):
    kind = "openai"

    max_model_len = LockedSwitch()
    reject_marker = LockedSwitch()
    shuffle_choices = LockedSwitch()

    def __init__(self, *, model_id: str = MODEL_ID, max_model_len: int = DEFAULT_MAX_MODEL_LEN, seed: int = 0):
        self.model_id = model_id
        self._default_max_model_len = max_model_len
        super().__init__(seed=seed)

    def apply_defaults(self) -> None:
        self.max_model_len = self._default_max_model_len
        self.reject_marker = None
        self.shuffle_choices = False

    def error_reply(self, error: Rejected) -> Reply:
        error_type = error.error_type or _ERROR_TYPE_BY_STATUS.get(error.status, "InternalServerError")
        return Reply.json(error.status, {"error": {"message": error.message, "type": error_type, "code": error.status}})

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            return Reply.json(200, {"object": "list", "data": [{"id": self.model_id, "object": "model"}]})
        if request.method == "POST" and request.path == "/v1/completions":
            return self._completions(request)
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._chat(request)
        return super().route(request)

    def _completions(self, request: Request) -> Reply:
        body = decode_json_body(request)
        prompts = body.get("prompt") if isinstance(body, dict) else None
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            self.begin_call(request, 0)
            raise Rejected(400, "prompt must be a string or a non-empty list of strings")
        self.begin_call(request, len(prompts), _sampling(body))
        self._check_model(body)
        max_tokens, stop = _limits(body)
        for prompt in prompts:
            self._check_prompt(prompt)

        choices = []
        for index, prompt in enumerate(prompts):
            text, finish_reason = fake_completion(prompt, max_tokens, stop)
            choices.append({"index": index, "text": text, "finish_reason": finish_reason, "logprobs": None})
        if self.shuffle_choices:
            choices.reverse()
        usage = _usage(sum(count_words(p) for p in prompts), sum(count_words(c["text"]) for c in choices))
        return Reply.json(
            200,
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "model": self.model_id,
                "choices": choices,
                "usage": usage,
            },
        )

    def _chat(self, request: Request) -> Reply:
        body = decode_json_body(request)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages or not all(_is_message(m) for m in messages):
            self.begin_call(request, 0)
            raise Rejected(400, "messages must be a non-empty list of {role, content}")
        self.begin_call(request, 1, _sampling(body))
        self._check_model(body)
        max_tokens, stop = _limits(body)
        self._check_prompt(" ".join(message["content"] for message in messages))

        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        text, finish_reason = fake_completion(last_user, max_tokens, stop)
        usage = _usage(sum(count_words(m["content"]) for m in messages), count_words(text))
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
        return Reply.json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": self.model_id,
                "choices": [choice],
                "usage": usage,
            },
        )

    def _check_model(self, body: dict) -> None:
        model = body.get("model")
        if model is not None and model != self.model_id:
            raise Rejected(404, f"The model `{model}` does not exist.", "NotFoundError")

    def _check_prompt(self, prompt: str) -> None:
        marker = self.reject_marker
        if marker is not None and marker in prompt:
            raise Rejected(400, f"the prompt contains the rejected marker {marker!r}")
        limit = self.max_model_len
        if count_words(prompt) > limit:
            raise Rejected(
                400,
                f"This model's maximum context length is {limit} tokens. "
                f"However, your request has {count_words(prompt)} input tokens.",
            )


def _is_message(message) -> bool:
    return (
        isinstance(message, dict) and isinstance(message.get("role"), str) and isinstance(message.get("content"), str)
    )


def _sampling(body: dict) -> dict:
    return {name: body.get(name) for name in ("model", "max_tokens", "temperature", "top_p", "stop", "seed")}


def _limits(body: dict) -> tuple[int, list[str]]:
    max_tokens = body.get("max_tokens") or DEFAULT_MAX_TOKENS
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    return max_tokens, stop


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


if __name__ == "__main__":
    run_standalone(FakeOpenAIEngine(), "Fake OpenAI-compatible generation engine")
