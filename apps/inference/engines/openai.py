"""Clients for OpenAI-compatible text generation servers such as vLLM.

An item is a prompt (str) or a chat (a list of ``{"role", "content"}``). The batch key's
parameters (model and sampling values) are shared by every item of a call.

- ``openai_completions``: prompts go to POST /v1/completions, several per request, and
  the answers are matched to prompts by ``choices[].index``. Chats go to
  /v1/chat/completions, one per request, since such servers serve both routes.
- ``openai_chat``: every item goes to POST /v1/chat/completions, one per request; a
  prompt is sent as a single user message. Requests run concurrently up to the engine's
  ``max_concurrent_calls``, because the server batches internally.

Each output is ``{"text", "finish_reason", "model", "usage"}``, plus ``"message"`` for a
chat. ``usage`` has the engine's ``prompt_tokens`` and ``completion_tokens`` when the
request carried only this item. A completions request with several prompts reports one
total for all of them, so each of its items gets ``usage`` None.
"""

import logging

from .fanout import call_each
from .http import bad_response, check_health, client_for, post_json

logger = logging.getLogger(__name__)

COMPLETIONS_PATH = "/v1/completions"
CHAT_PATH = "/v1/chat/completions"
SAMPLING_PARAMS = ("max_tokens", "temperature", "top_p", "stop", "seed")


class OpenAIClient:
    """One OpenAI-compatible engine; ``chat_only`` selects the openai_chat protocol."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        *,
        connect_timeout_s: float | None = None,
        model: str | None = None,
        max_batch_size: int = 16,
        max_concurrent_calls: int = 4,
        chat_only: bool = False,
    ):
        self.base_url = base_url
        self.http = client_for(base_url, timeout_s, connect_timeout_s)
        self.model = model or None
        self.chat_only = chat_only
        self.max_concurrent_calls = max(1, max_concurrent_calls)
        # Prompts per /v1/completions request; chats always go one per request.
        self.max_batch_size = 1 if chat_only else max(1, max_batch_size)

    def health(self) -> bool:
        return check_health(self.http)

    def call(self, items: list, batch_key: tuple) -> list[dict]:
        body = self._shared_body(dict(batch_key))
        outputs: list[dict | None] = [None] * len(items)
        prompt_positions = [i for i, item in enumerate(items) if isinstance(item, str) and not self.chat_only]
        chat_positions = sorted(set(range(len(items))) - set(prompt_positions))

        for start in range(0, len(prompt_positions), self.max_batch_size):
            positions = prompt_positions[start : start + self.max_batch_size]
            for position, output in zip(positions, self.complete([items[i] for i in positions], body), strict=True):
                outputs[position] = output

        chats = [_as_messages(items[i]) for i in chat_positions]
        for position, output in zip(
            chat_positions,
            call_each(chats, lambda messages: self.chat(messages, body), self.max_concurrent_calls),
            strict=True,
        ):
            outputs[position] = output
        return outputs

    def complete(self, prompts: list[str], body: dict) -> list[dict]:
        """Send prompts in one /v1/completions request and return one output per prompt, in order."""
        reply = post_json(self.http, COMPLETIONS_PATH, {**body, "prompt": prompts})
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or len(choices) != len(prompts):
            raise bad_response(self.http, COMPLETIONS_PATH, f"not {len(prompts)} choices")

        by_index: dict[int, dict] = {}
        for choice in choices:
            index = choice.get("index") if isinstance(choice, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(prompts):
                raise bad_response(self.http, COMPLETIONS_PATH, "a choice without a valid index")
            if index in by_index or not isinstance(choice.get("text"), str):
                raise bad_response(self.http, COMPLETIONS_PATH, f"choice {index} repeated or without text")
            by_index[index] = choice

        model = _model_name(reply, body)
        usage = _usage(reply) if len(prompts) == 1 else None
        return [
            {
                "text": by_index[i]["text"],
                "finish_reason": _finish_reason(by_index[i]),
                "model": model,
                "usage": usage,
            }
            for i in range(len(prompts))
        ]

    def chat(self, messages: list[dict], body: dict) -> dict:
        """Send one conversation to /v1/chat/completions and return its output."""
        reply = post_json(self.http, CHAT_PATH, {**body, "messages": messages})
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
            raise bad_response(self.http, CHAT_PATH, "not exactly one choice")
        message = choices[0].get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise bad_response(self.http, CHAT_PATH, "a choice without message content")
        role = message.get("role") if isinstance(message.get("role"), str) else "assistant"
        return {
            "text": message["content"],
            "message": {"role": role, "content": message["content"]},
            "finish_reason": _finish_reason(choices[0]),
            "model": _model_name(reply, body),
            "usage": _usage(reply),
        }

    def _shared_body(self, params: dict) -> dict:
        body = {name: params.get(name) for name in SAMPLING_PARAMS if params.get(name) is not None}
        if "stop" in body:
            body["stop"] = list(body["stop"])
        model = params.get("model") or self.model
        if model:
            body["model"] = model
        return body


def _as_messages(item) -> list[dict]:
    if isinstance(item, str):
        return [{"role": "user", "content": item}]
    return list(item)


def _finish_reason(choice: dict) -> str | None:
    reason = choice.get("finish_reason")
    return reason if isinstance(reason, str) else None


def _model_name(reply: dict, body: dict) -> str | None:
    model = reply.get("model")
    return model if isinstance(model, str) else body.get("model")


def _usage(reply: dict) -> dict | None:
    usage = reply.get("usage")
    if not isinstance(usage, dict):
        return None
    counts = {}
    for name in ("prompt_tokens", "completion_tokens"):
        value = usage.get(name)
        counts[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    return counts
