"""A fake Hugging Face TEI embedding engine that runs a real HTTP server in a background thread.

It speaks the same POST /embed, GET /health and GET /info protocol as deploy/engines/minilm/server.py,
with the same status codes and error bodies, but returns hash-derived vectors instead of running a
model. Tests steer it through switches (latency, queued failures, a rejected marker, a hang, the batch
limit, health) and read back the batch size of every /embed call it received.

    with FakeTeiEngine() as engine:
        engine.fail_next(503, count=2)
        ...  # point the gateway at engine.url
        assert engine.calls == [3, 3, 3]
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any

from .fake_base import Call, FakeEngine, LockedSwitch, Rejected, Reply, Request

EMBEDDING_DIMENSION = 384
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MAX_CLIENT_BATCH_SIZE = 32
DEFAULT_MAX_INPUT_LENGTH = 256

# The error_type TEI sends with each status (router/src/http/server.rs). fail_next() uses "Backend"
# for any status not listed, such as 500.
ERROR_TYPE_BY_STATUS = {
    400: "Empty",
    413: "Validation",
    422: "Tokenizer",
    424: "Backend",
    429: "Overloaded",
    503: "Unhealthy",
}

# Plain-text rejections that axum's Json extractor returns before TEI's handler runs.
JSON_SYNTAX_REJECTION = "Failed to parse the request body as JSON"
JSON_DATA_REJECTION = "Failed to deserialize the JSON body into the target type"
CONTENT_TYPE_REJECTION = "Expected request with `Content-Type: application/json`"


def fake_embedding(text: str, normalize: bool = True) -> list[float]:
    """Derive a 384-dim vector from SHAKE-256 of the text, so the same text always gives the same vector.

    With normalize=True the vector has unit length, as TEI returns by default. With normalize=False
    it is the raw vector, with components in [-1, 1) and a norm near 11.
    """
    digest = hashlib.shake_256(text.encode("utf-8")).digest(EMBEDDING_DIMENSION * 4)
    words = struct.unpack(f"<{EMBEDDING_DIMENSION}I", digest)
    vector = [word / 2**31 - 1.0 for word in words]
    if not normalize:
        return vector
    norm = math.sqrt(sum(component * component for component in vector))
    return [component / norm for component in vector]


def count_fake_tokens(text: str) -> int:
    """Count whitespace-separated words plus the [CLS] and [SEP] tokens.

    The fake uses this in place of the WordPiece tokenizer, so long-input tests need no model.
    WordPiece counts for the same text are equal or higher.
    """
    return len(text.split()) + 2


class _PlainTextRejected(Rejected):
    """A rejection that axum sends as a plain-text body, before TEI's handler runs."""


class FakeTeiEngine(FakeEngine):
    """A TEI-protocol HTTP server on 127.0.0.1 with an OS-chosen port.

    Switches (each safe to set from the test thread while requests are in flight):
    - latency_s: seconds to wait before responding to each /embed call.
    - reject_marker: any input that contains this string makes the call fail with 422, as a TEI
      tokenizer error does. None disables it.
    - hang: /embed calls wait fake_base.HANG_SECONDS before answering. stop() interrupts the wait and closes
      the connection without a response.
    - max_client_batch_size: larger batches fail with 413, as in TEI.
    - max_input_length: inputs with more fake tokens (see count_fake_tokens) fail with 413 unless
      the request sets truncate=true.
    - healthy: False makes /health answer 503.

    trickle_next() makes the next replies arrive one byte at a time, which no read timeout catches.
    FakeEngine's failure_rate, failure_status and malformed_replies work here too.
    """

    kind = "tei"
    server_version = "FakeTEI"

    reject_marker = LockedSwitch()
    max_client_batch_size = LockedSwitch()
    max_input_length = LockedSwitch()

    def __init__(
        self,
        *,
        max_client_batch_size: int = DEFAULT_MAX_CLIENT_BATCH_SIZE,
        max_input_length: int = DEFAULT_MAX_INPUT_LENGTH,
        model_id: str = MODEL_ID,
    ) -> None:
        self._defaults = {
            "max_client_batch_size": max_client_batch_size,
            "max_input_length": max_input_length,
        }
        self.model_id = model_id
        self._pending_trickles: list[float] = []
        super().__init__()

    def apply_defaults(self) -> None:
        self.reject_marker = None
        self.max_client_batch_size = self._defaults["max_client_batch_size"]
        self.max_input_length = self._defaults["max_input_length"]

    @property
    def calls(self) -> list[int]:  # type: ignore[override]
        """Batch sizes of the /embed calls received so far, failed ones included (0 for an unreadable body)."""
        return self.batch_sizes

    def _record_call(self, input_count: int) -> None:
        """Record an /embed call of input_count inputs without serving it, so a test can fill the record directly."""
        with self._lock:
            self._calls.append(Call("/embed", input_count, None))

    def fail_next(self, status: int, count: int = 1, error_type: str | None = None) -> None:
        """Make the next count /embed calls fail with status and a TEI error body, whatever they contain."""
        super().fail_next(status, count, error_type or ERROR_TYPE_BY_STATUS.get(status, "Backend"))

    def trickle_next(self, seconds: float, count: int = 1) -> None:
        """Make the next count successful /embed replies take seconds: the body goes out a byte at a time."""
        if seconds <= 0 or count < 1:
            raise ValueError(f"seconds must be positive and count 1 or greater, got {seconds} and {count}")
        with self._lock:
            self._pending_trickles.extend([seconds] * count)

    def reset(self) -> None:
        """Clear the recorded calls, queued failures and trickles and restore every switch to its default."""
        with self._lock:
            self._pending_trickles.clear()
        super().reset()

    def info(self) -> dict[str, Any]:
        """Return the body of GET /info, shaped like TEI's Info struct."""
        return {
            "model_id": self.model_id,
            "model_sha": None,
            "model_dtype": "float32",
            "model_type": {"embedding": {"pooling": "mean"}},
            "max_concurrent_requests": 512,
            "max_input_length": self.max_input_length,
            "max_batch_tokens": 16384,
            "max_batch_requests": None,
            "max_client_batch_size": self.max_client_batch_size,
            "auto_truncate": False,
            "tokenization_workers": 1,
            "version": "fake",
            "sha": None,
            "docker_label": None,
        }

    # Protocol hooks.

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/info":
            return Reply.json(200, self.info())
        if request.method == "POST" and request.path == "/embed":
            vectors = self._embed(request)
            with self._lock:
                trickle_s = self._pending_trickles.pop(0) if self._pending_trickles else 0.0
            return Reply(200, json.dumps(vectors).encode(), trickle_s=trickle_s)
        return Reply(404, b"", "text/plain")

    def health(self) -> Reply:
        if self.healthy:
            return Reply(200, b"", "text/plain")
        return Reply.json(503, {"error": "unhealthy", "error_type": "Unhealthy"})

    def error_reply(self, error: Rejected) -> Reply:
        """Build TEI's {"error", "error_type"} body, or axum's plain-text body for a rejected request body."""
        if isinstance(error, _PlainTextRejected):
            return Reply.text(error.status, error.message)
        error_type = error.error_type or ERROR_TYPE_BY_STATUS.get(error.status, "Backend")
        return Reply.json(error.status, {"error": error.message, "error_type": error_type})

    def _embed(self, request: Request) -> list[list[float]]:
        """Record the call, then apply the switches and TEI's checks and return one vector per input.

        Raise Rejected for a rejected call, or Stopped when stop() interrupts the wait.
        """
        try:
            texts, is_batch, normalize, truncate = _decode_embed_body(request)
        except Rejected:
            self.record_call(request, 0)
            raise
        # The limits are read before the wait, so a switch flipped during a hang applies to the next call.
        with self._lock:
            reject_marker = self._reject_marker
            max_client_batch_size = self._max_client_batch_size
            max_input_length = self._max_input_length
        self.begin_call(request, len(texts))

        if is_batch and not texts:
            raise Rejected(400, "`inputs` cannot be empty", "Empty")
        if len(texts) > max_client_batch_size:
            message = f"batch size {len(texts)} > maximum allowed batch size {max_client_batch_size}"
            raise Rejected(413, message, "Validation")

        for text in texts:
            if reject_marker is not None and reject_marker in text:
                message = f"tokenizer error: input contains the rejected marker {reject_marker!r}"
                raise Rejected(422, message, "Tokenizer")
            token_count = count_fake_tokens(text)
            if token_count > max_input_length and not truncate:
                message = (
                    f"Input validation error: `inputs` must have less than {max_input_length} tokens. "
                    f"Given: {token_count}"
                )
                raise Rejected(413, message, "Validation")

        return [fake_embedding(text, normalize) for text in texts]


def _decode_embed_body(request: Request) -> tuple[list[str], bool, bool, bool]:
    """Return (texts, is_batch, normalize, truncate), or raise the rejection axum would send."""
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise _PlainTextRejected(415, CONTENT_TYPE_REJECTION)
    try:
        payload = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _PlainTextRejected(400, f"{JSON_SYNTAX_REJECTION}: {error}") from None

    if not isinstance(payload, dict) or "inputs" not in payload:
        raise _PlainTextRejected(422, f"{JSON_DATA_REJECTION}: missing field `inputs`")
    inputs = payload["inputs"]
    if isinstance(inputs, str):
        texts, is_batch = [inputs], False
    elif isinstance(inputs, list) and all(isinstance(item, str) for item in inputs):
        texts, is_batch = inputs, True
    else:
        raise _PlainTextRejected(422, f"{JSON_DATA_REJECTION}: `inputs` must be a string or a list of strings")

    normalize = payload.get("normalize", True)
    truncate = payload.get("truncate")
    if not isinstance(normalize, bool):
        raise _PlainTextRejected(422, f"{JSON_DATA_REJECTION}: `normalize` must be a boolean")
    if truncate is not None and not isinstance(truncate, bool):
        raise _PlainTextRejected(422, f"{JSON_DATA_REJECTION}: `truncate` must be a boolean or null")
    return texts, is_batch, normalize, bool(truncate)
