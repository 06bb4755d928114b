"""What each inference task needs from the broker, in one place per task.

The submit view validates a body with the task's serializer and stores the result as the
job payload. The worker gets from the task which jobs may share an engine call (``batch_key``),
which items one job sends (``inputs``), and how the engine's outputs become the job's
result (``result``). The engine client for the endpoint's protocol does the HTTP.

``TASKS`` maps each task name to its spec. For the other parts of the broker:

- Batch keys are tuples of (name, value) pairs sorted by name, with lists turned into
  tuples, so they hash and ``dict(batch_key)`` gives the parameters the engine call
  shares. Values are JSON scalars or tuples of strings.
- ``TaskSpec.serves(payload, engine)`` says whether an engine may run a job: its protocol
  is one of the task's, and when the job names a model (generate), the engine's
  ``model`` is that model.
- ``make_engine_client(engine)`` builds the client for any protocol in ``PROTOCOLS``; it
  reads ``base_url``, ``timeout_s`` (read timeout), ``connect_timeout_s``, ``model``,
  ``batch_size`` and ``max_concurrent_calls`` from the EngineConfig.
- Serializers do not know ``deadline_s``: the submit view takes it out of the body
  before validation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from rest_framework.serializers import Serializer

from .engines.ocr import OcrClient
from .engines.openai import OpenAIClient
from .engines.registry import EngineConfig
from .engines.tei import TeiClient
from .engines.transcription import TranscriptionClient
from .engines.translation import TranslationClient
from .serializers import (
    EmbedRequestSerializer,
    GenerateRequestSerializer,
    OcrRequestSerializer,
    SttRequestSerializer,
    TranslateRequestSerializer,
)

PROTOCOLS = ("tei", "openai_completions", "openai_chat", "openai_transcriptions", "redgx_translate", "redgx_ocr")


class EngineClient(Protocol):
    """One engine endpoint, as a worker calls it.

    ``call`` sends items that share ``batch_key`` and returns one output per item, in
    order, or raises EngineError for the whole call (the batcher then splits a rejected
    batch until the bad item fails alone). A client splits a call into several requests
    itself when the engine has a smaller limit than the batch.
    """

    # Items one engine request carries at most; 1 for engines that batch internally and
    # take one request per item (chat, transcription, OCR).
    max_batch_size: int

    def call(self, items: list, batch_key: Hashable) -> list: ...

    def health(self) -> bool: ...


@dataclass(frozen=True)
class TaskSpec:
    """The validation, batching and result shape of one inference task."""

    name: str
    serializer: type[Serializer]
    # Engine protocols that can serve this task (EngineConfig.protocol values).
    protocols: tuple[str, ...]
    # payload -> key; jobs with equal keys (and the same engine) may share an engine call.
    batch_key: Callable[[dict], Hashable]
    # payload -> the items this job sends to the engine.
    inputs: Callable[[dict], list]
    # (payload, outputs for this job's items, engine) -> the job's result body.
    result: Callable[[dict, list, EngineConfig], dict]
    # engine -> a client for its protocol.
    make_client: Callable[[EngineConfig], EngineClient]
    # payload -> the model the job requests, or None when any engine of the task will do.
    requested_model: Callable[[dict], str | None] = lambda payload: None

    def serves(self, payload: dict, engine: EngineConfig) -> bool:
        """True when the engine speaks one of this task's protocols and serves the requested model."""
        if engine.task != self.name or engine.protocol not in self.protocols:
            return False
        model = self.requested_model(payload)
        return model is None or engine.model == model


def _pairs(**params) -> tuple:
    """Build a batch key: (name, value) pairs sorted by name, lists made tuples so it hashes."""
    return tuple(sorted((name, tuple(value) if isinstance(value, list) else value) for name, value in params.items()))


def make_engine_client(engine: EngineConfig) -> EngineClient:
    """Build the client for an engine's protocol, with the engine's timeouts and limits."""
    common = {"timeout_s": engine.timeout_s, "connect_timeout_s": engine.connect_timeout_s}
    protocol = engine.protocol
    if protocol == "tei":
        return TeiClient(engine.base_url, max_batch_size=engine.batch_size, **common)
    if protocol in ("openai_completions", "openai_chat"):
        return OpenAIClient(
            engine.base_url,
            model=engine.model,
            max_batch_size=engine.batch_size,
            max_concurrent_calls=engine.max_concurrent_calls,
            chat_only=protocol == "openai_chat",
            **common,
        )
    if protocol == "openai_transcriptions":
        return TranscriptionClient(
            engine.base_url, model=engine.model, max_concurrent_calls=engine.max_concurrent_calls, **common
        )
    if protocol == "redgx_translate":
        return TranslationClient(engine.base_url, max_batch_size=engine.batch_size, **common)
    if protocol == "redgx_ocr":
        return OcrClient(engine.base_url, max_concurrent_calls=engine.max_concurrent_calls, **common)
    raise ValueError(f"Unknown engine protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def _embed_result(payload: dict, outputs: list, engine: EngineConfig) -> dict:
    return {"vectors": outputs, "dimensions": len(outputs[0]) if outputs else 0}


def _generate_batch_key(payload: dict) -> tuple:
    return _pairs(
        form="prompt" if payload["prompt"] is not None else "chat",
        model=payload["model"],
        max_tokens=payload["max_tokens"],
        temperature=payload["temperature"],
        top_p=payload["top_p"],
        stop=payload["stop"],
        seed=payload["seed"],
    )


def _generate_result(payload: dict, outputs: list, engine: EngineConfig) -> dict:
    result = dict(outputs[0])
    if not result.get("model"):
        result["model"] = payload["model"] or engine.model
    return result


EMBED = TaskSpec(
    name="embed",
    serializer=EmbedRequestSerializer,
    protocols=("tei",),
    batch_key=lambda payload: _pairs(normalize=payload["normalize"], truncate=payload["truncate"]),
    inputs=lambda payload: payload["inputs"],
    result=_embed_result,
    make_client=make_engine_client,
)

GENERATE = TaskSpec(
    name="generate",
    serializer=GenerateRequestSerializer,
    protocols=("openai_completions", "openai_chat"),
    batch_key=_generate_batch_key,
    inputs=lambda payload: [payload["prompt"] if payload["prompt"] is not None else payload["messages"]],
    result=_generate_result,
    make_client=make_engine_client,
    requested_model=lambda payload: payload["model"],
)

TRANSLATE = TaskSpec(
    name="translate",
    serializer=TranslateRequestSerializer,
    protocols=("redgx_translate",),
    batch_key=lambda payload: _pairs(source=payload["source"], target=payload["target"]),
    inputs=lambda payload: payload["texts"],
    result=lambda payload, outputs, engine: {
        "translations": outputs,
        "source": payload["source"],
        "target": payload["target"],
    },
    make_client=make_engine_client,
)

STT = TaskSpec(
    name="stt",
    serializer=SttRequestSerializer,
    protocols=("openai_transcriptions",),
    batch_key=lambda payload: _pairs(language=payload["language"], response_format=payload["response_format"]),
    inputs=lambda payload: [
        {key: payload[key] for key in ("audio_base64", "filename", "content_type")},
    ],
    result=lambda payload, outputs, engine: outputs[0],
    make_client=make_engine_client,
)

OCR = TaskSpec(
    name="ocr",
    serializer=OcrRequestSerializer,
    protocols=("redgx_ocr",),
    batch_key=lambda payload: (),
    inputs=lambda payload: [{key: payload[key] for key in ("document_base64", "content_type")}],
    result=lambda payload, outputs, engine: outputs[0],
    make_client=make_engine_client,
)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (EMBED, GENERATE, TRANSLATE, STT, OCR)}
