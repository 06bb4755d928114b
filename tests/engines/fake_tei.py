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
import logging
import math
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

EMBEDDING_DIMENSION = 384
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MAX_CLIENT_BATCH_SIZE = 32
DEFAULT_MAX_INPUT_LENGTH = 256
HANG_SECONDS = 60.0
# A trickled reply sends one byte this often, so every read of the client gets data in time.
TRICKLE_INTERVAL_S = 0.2

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


class _LockedSwitch:
    """A FakeTeiEngine attribute that is read and written under the engine's lock."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute = f"_{name}"

    def __get__(self, engine: FakeTeiEngine | None, owner: type | None = None) -> Any:
        if engine is None:
            return self
        with engine._lock:
            return getattr(engine, self._attribute)

    def __set__(self, engine: FakeTeiEngine, value: Any) -> None:
        with engine._lock:
            setattr(engine, self._attribute, value)


class _EmbedRejectedError(Exception):
    def __init__(self, status: int, body: dict[str, str] | str) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class FakeTeiEngine:
    """A TEI-protocol HTTP server on 127.0.0.1 with an OS-chosen port.

    Switches (each safe to set from the test thread while requests are in flight):
    - latency_s: seconds to wait before responding to each /embed call.
    - reject_marker: any input that contains this string makes the call fail with 422, as a TEI
      tokenizer error does. None disables it.
    - hang: /embed calls wait HANG_SECONDS before answering. stop() interrupts the wait and closes
      the connection without a response.
    - max_client_batch_size: larger batches fail with 413, as in TEI.
    - max_input_length: inputs with more fake tokens (see count_fake_tokens) fail with 413 unless
      the request sets truncate=true.
    - healthy: False makes /health answer 503.

    trickle_next() makes the next replies arrive one byte at a time, which no read timeout catches.
    """

    latency_s = _LockedSwitch()
    reject_marker = _LockedSwitch()
    hang = _LockedSwitch()
    max_client_batch_size = _LockedSwitch()
    max_input_length = _LockedSwitch()
    healthy = _LockedSwitch()

    def __init__(
        self,
        *,
        max_client_batch_size: int = DEFAULT_MAX_CLIENT_BATCH_SIZE,
        max_input_length: int = DEFAULT_MAX_INPUT_LENGTH,
        model_id: str = MODEL_ID,
    ) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._defaults = {
            "max_client_batch_size": max_client_batch_size,
            "max_input_length": max_input_length,
        }
        self.model_id = model_id
        self._calls: list[int] = []
        self._pending_failures: list[int] = []
        self._pending_trickles: list[float] = []
        self._apply_defaults()

    def _apply_defaults(self) -> None:
        with self._lock:
            self._latency_s = 0.0
            self._reject_marker: str | None = None
            self._hang = False
            self._max_client_batch_size = self._defaults["max_client_batch_size"]
            self._max_input_length = self._defaults["max_input_length"]
            self._healthy = True

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeTeiEngine has no URL until start() has been called")
        return f"http://127.0.0.1:{self._port}"

    @property
    def calls(self) -> list[int]:
        """Batch sizes of the /embed calls received so far, failed ones included (0 for an unreadable body)."""
        with self._lock:
            return list(self._calls)

    def start(self) -> FakeTeiEngine:
        """Start serving. After a stop() this binds the previous port again, so url stays the same."""
        if self._server is not None:
            raise RuntimeError("FakeTeiEngine is already running")
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self._port or 0), _FakeTeiHandler)
        server.fake_engine = self  # type: ignore[attr-defined]
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-tei-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting connections and wake calls that are sleeping on latency_s or hang."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def fail_next(self, status: int, count: int = 1) -> None:
        """Make the next count /embed calls fail with status and a TEI error body, whatever they contain."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status from 400 to 599, got {status}")
        if count < 1:
            raise ValueError(f"count must be 1 or greater, got {count}")
        with self._lock:
            self._pending_failures.extend([status] * count)

    def trickle_next(self, seconds: float, count: int = 1) -> None:
        """Make the next count successful /embed replies take seconds: the body goes out a byte at a time."""
        if seconds <= 0 or count < 1:
            raise ValueError(f"seconds must be positive and count 1 or greater, got {seconds} and {count}")
        with self._lock:
            self._pending_trickles.extend([seconds] * count)

    def reset(self) -> None:
        """Clear the recorded calls and queued failures and restore every switch to its default."""
        with self._lock:
            self._calls.clear()
            self._pending_failures.clear()
            self._pending_trickles.clear()
        self._apply_defaults()

    def __enter__(self) -> FakeTeiEngine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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

    def _record_call(self, input_count: int) -> None:
        with self._lock:
            self._calls.append(input_count)

    def _take_pending_trickle(self) -> float:
        with self._lock:
            return self._pending_trickles.pop(0) if self._pending_trickles else 0.0

    def _take_pending_failure(self) -> int | None:
        with self._lock:
            if not self._pending_failures:
                return None
            return self._pending_failures.pop(0)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to seconds and return False if stop() cut the sleep short."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _embed(self, content_type: str, body: bytes) -> list[list[float]]:
        """Record the call, then apply the switches and TEI's checks and return one vector per input.

        Raise _EmbedRejectedError for a rejected call, or _StoppedError when stop() interrupts the wait.
        """
        try:
            texts, is_batch, normalize, truncate = _decode_embed_body(content_type, body)
        except _EmbedRejectedError:
            self._record_call(0)
            raise
        self._record_call(len(texts))

        with self._lock:
            latency_s = self._latency_s
            hang = self._hang
            reject_marker = self._reject_marker
            max_client_batch_size = self._max_client_batch_size
            max_input_length = self._max_input_length

        if not self._wait(HANG_SECONDS if hang else latency_s):
            raise _StoppedError

        failure_status = self._take_pending_failure()
        if failure_status is not None:
            error_type = ERROR_TYPE_BY_STATUS.get(failure_status, "Backend")
            raise _EmbedRejectedError(
                failure_status, {"error": f"fake failure with status {failure_status}", "error_type": error_type}
            )

        if is_batch and not texts:
            raise _EmbedRejectedError(400, {"error": "`inputs` cannot be empty", "error_type": "Empty"})
        if len(texts) > max_client_batch_size:
            message = f"batch size {len(texts)} > maximum allowed batch size {max_client_batch_size}"
            raise _EmbedRejectedError(413, {"error": message, "error_type": "Validation"})

        for text in texts:
            if reject_marker is not None and reject_marker in text:
                message = f"tokenizer error: input contains the rejected marker {reject_marker!r}"
                raise _EmbedRejectedError(422, {"error": message, "error_type": "Tokenizer"})
            token_count = count_fake_tokens(text)
            if token_count > max_input_length and not truncate:
                message = (
                    f"Input validation error: `inputs` must have less than {max_input_length} tokens. "
                    f"Given: {token_count}"
                )
                raise _EmbedRejectedError(413, {"error": message, "error_type": "Validation"})

        return [fake_embedding(text, normalize) for text in texts]


class _StoppedError(Exception):
    """stop() was called while a call was waiting. The handler closes the connection without a response."""


def _decode_embed_body(content_type: str, body: bytes) -> tuple[list[str], bool, bool, bool]:
    """Return (texts, is_batch, normalize, truncate), or raise the rejection axum would send."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise _EmbedRejectedError(415, CONTENT_TYPE_REJECTION)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _EmbedRejectedError(400, f"{JSON_SYNTAX_REJECTION}: {error}") from None

    if not isinstance(payload, dict) or "inputs" not in payload:
        raise _EmbedRejectedError(422, f"{JSON_DATA_REJECTION}: missing field `inputs`")
    inputs = payload["inputs"]
    if isinstance(inputs, str):
        texts, is_batch = [inputs], False
    elif isinstance(inputs, list) and all(isinstance(item, str) for item in inputs):
        texts, is_batch = inputs, True
    else:
        raise _EmbedRejectedError(422, f"{JSON_DATA_REJECTION}: `inputs` must be a string or a list of strings")

    normalize = payload.get("normalize", True)
    truncate = payload.get("truncate")
    if not isinstance(normalize, bool):
        raise _EmbedRejectedError(422, f"{JSON_DATA_REJECTION}: `normalize` must be a boolean")
    if truncate is not None and not isinstance(truncate, bool):
        raise _EmbedRejectedError(422, f"{JSON_DATA_REJECTION}: `truncate` must be a boolean or null")
    return texts, is_batch, normalize, bool(truncate)


class _FakeTeiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTEI"

    @property
    def engine(self) -> FakeTeiEngine:
        return self.server.fake_engine  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        if self.path == "/health":
            if self.engine.healthy:
                self._send(200, b"", "text/plain")
            else:
                self._send_json(503, {"error": "unhealthy", "error_type": "Unhealthy"})
        elif self.path == "/info":
            self._send_json(200, self.engine.info())
        else:
            self._send(404, b"", "text/plain")

    def do_POST(self) -> None:
        if self.path != "/embed":
            self._send(404, b"", "text/plain")
            return

        # NOTE: only bodies with a Content-Length are read, so a chunked body counts as empty.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            vectors = self.engine._embed(self.headers.get("Content-Type") or "", body)
        except _StoppedError:
            self.close_connection = True
            return
        except _EmbedRejectedError as error:
            if isinstance(error.body, str):
                self._send(error.status, error.body.encode(), "text/plain; charset=utf-8")
            else:
                self._send_json(error.status, error.body)
            return
        trickle_s = self.engine._take_pending_trickle()
        if trickle_s:
            self._trickle(json.dumps(vectors).encode(), trickle_s)
            return
        self._send_json(200, vectors)

    def _trickle(self, body: bytes, seconds: float) -> None:
        """Send a 200 reply whose body takes seconds to arrive, one byte per TRICKLE_INTERVAL_S."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        for _ in range(int(seconds / TRICKLE_INTERVAL_S)):
            if sent >= len(body) - 1 or not self.engine._wait(TRICKLE_INTERVAL_S):
                break
            self.wfile.write(body[sent : sent + 1])
            sent += 1
        self.wfile.write(body[sent:])
        self.close_connection = True

    def _send_json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        # Every response closes its connection, so a stopped engine keeps no pooled client connection.
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake TEI %s: " + format, self.address_string(), *args)
