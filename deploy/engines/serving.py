"""Shared serving code of the OCR, Whisper and translation reference engines.

Each engine's server.py imports this module from the directory above it. The module holds
EngineSettings and the ENGINE_* setting parsers, the JSON error body of RedGX's engine protocols
(`{"error", "error_type"}`) and a request-body size limit. ModelHost loads the model in the background
and runs model calls on a bounded thread pool, and run() is each server's entry point. The MiniLM
engine uses only the setting parsers and exit_on_invalid_settings, because it mirrors TEI's error
bodies and lifecycle instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

logger = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")
SettingsT = TypeVar("SettingsT", bound="EngineSettings")

# Seconds a client should wait after a 429, sent as Retry-After. An estimate: one OCR or Whisper call
# took 0.6 to 2 s on the 2-core development machine, so a full queue has room again within seconds.
RETRY_AFTER_S = 2


class EngineError(Exception):
    """An error response: the HTTP status, the protocol's error_type and a message for the client."""

    def __init__(self, status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return error_response(self.status, self.error_type, str(self))


def error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status, headers=headers)


def bad_request(message: str) -> EngineError:
    return EngineError(400, "bad_request", message)


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """Read an integer of 1 or more. Raise ValueError naming the variable when it is invalid."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    message = f"{name}={raw!r} is invalid: expected an integer of 1 or more"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(message) from None
    if value < 1:
        raise ValueError(message)
    return value


def log_level(environ: Mapping[str, str]) -> str:
    return environ.get("ENGINE_LOG_LEVEL", "INFO").upper()


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """The settings every engine has. An engine subclasses it, redeclaring a field to change its default.

    from_env reads each integer field `name` from the variable ENGINE_<NAME> as an integer of 1 or
    more, so a subclass adds a setting by declaring the field alone.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_concurrent_calls: int = 1
    max_queued_calls: int = 8
    max_body_bytes: int = 1_000_000
    log_level: str = "INFO"

    @classmethod
    def from_env(cls: type[SettingsT], environ: Mapping[str, str]) -> SettingsT:
        """Read the ENGINE_* variables. Raise ValueError, naming the variable, when one is invalid."""
        values: dict[str, Any] = {"host": environ.get("ENGINE_HOST", cls.host), "log_level": log_level(environ)}
        for field in dataclasses.fields(cls):
            # The annotations are strings because the engines use `from __future__ import annotations`.
            if field.type in (int, "int"):
                values[field.name] = positive_int(environ, f"ENGINE_{field.name.upper()}", field.default)
        return cls(**values)


class BodyTooLargeError(Exception):
    pass


def limit_body(request: Request, limit_bytes: int) -> Request:
    """Return a Request over the same connection whose body raises BodyTooLargeError past limit_bytes.

    The Content-Length header is checked first, and the received bytes are counted as well, because a
    chunked upload has no Content-Length.
    """
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > limit_bytes:
        raise BodyTooLargeError
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit_bytes:
                raise BodyTooLargeError
        return message

    return Request(request.scope, receive)


def body_too_large(limit_bytes: int) -> EngineError:
    return EngineError(
        413,
        "payload_too_large",
        f"request body is larger than the limit of {limit_bytes} bytes (ENGINE_MAX_BODY_BYTES)",
    )


async def read_json_object(request: Request, limit_bytes: int) -> dict[str, Any]:
    """Read a JSON object body of at most limit_bytes. Raise EngineError 400, 413 or 415."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise EngineError(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        body = await limit_body(request, limit_bytes).body()
    except BodyTooLargeError:
        raise body_too_large(limit_bytes) from None
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad_request(f"request body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise bad_request(f"request body must be a JSON object, got {type(payload).__name__}")
    return payload


class ModelHost:
    """The model's lifecycle and the limit on concurrent model calls.

    The load and every model call run on a thread pool of max_concurrent_calls threads, so the event
    loop keeps serving /health while the model works. At most max_queued_calls further calls wait
    for a thread, and any call beyond that gets 429 with Retry-After.
    """

    def __init__(self, name: str, max_concurrent_calls: int, max_queued_calls: int) -> None:
        self.name = name
        self.max_concurrent_calls = max_concurrent_calls
        self.max_queued_calls = max_queued_calls
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent_calls, thread_name_prefix=f"{name}-model"
        )
        self.loaded = False
        self.load_failed = False
        self.load_seconds: float | None = None
        self.calls_admitted = 0

    def check_ready(self) -> None:
        if not self.loaded:
            raise EngineError(503, "unhealthy", "the model is not loaded yet")

    async def call(self, function: Callable[..., ResultT], *args: Any) -> ResultT:
        """Run function(*args) on the pool. Raise EngineError 429 when every thread and queue slot is taken."""
        if self.calls_admitted >= self.max_concurrent_calls + self.max_queued_calls:
            raise EngineError(
                429,
                "overloaded",
                f"the engine is busy ({self.max_concurrent_calls} calls running, {self.max_queued_calls} waiting), "
                f"retry after {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.calls_admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)
        finally:
            self.calls_admitted -= 1


async def health(request: Request) -> Response:
    host: ModelHost = request.app.state.host
    if not host.loaded:
        return error_response(503, "unhealthy", "the model is not loaded yet")
    return JSONResponse({"status": "ok"})


def handle_errors(handler: Callable[[Request], Any], route_name: str) -> Callable[[Request], Any]:
    """Wrap a route handler so EngineError becomes its JSON error response and any other error a logged 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except EngineError as error:
            if error.status >= 500 or error.status == 429:
                logger.warning("%s returned %d %s: %s", route_name, error.status, error.error_type, error)
            else:
                logger.info("%s rejected a request with %d %s: %s", route_name, error.status, error.error_type, error)
            return error_response(error.status, error.error_type, str(error), error.headers)
        except Exception as error:
            logger.exception("%s failed", route_name)
            return error_response(500, "backend", f"the model call failed: {error}")

    return wrapped


def route(method: str, path: str, handler: Callable[[Request], Any]) -> Route:
    """Build a Route whose handler errors become responses through handle_errors, logged as "<method> <path>"."""
    return Route(path, handle_errors(handler, f"{method} {path}"), methods=[method])


def create_app(
    host: ModelHost,
    load: Callable[[], None],
    routes: list[Route],
    on_load_failure: Callable[[], None],
) -> Starlette:
    """Build the app with /health and routes. Its lifespan runs load() on the model pool in the background
    and calls on_load_failure if load() raises."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        load_started = time.perf_counter()

        def finish_load(future: asyncio.Future[None]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                host.load_failed = True
                logger.error("Failed to load the %s model, stopping the server: %s", host.name, error, exc_info=error)
                on_load_failure()
                return
            host.load_seconds = time.perf_counter() - load_started
            host.loaded = True
            logger.info("Loaded the %s model in %.1f s", host.name, host.load_seconds)

        logger.info("Loading the %s model", host.name)
        future = asyncio.get_running_loop().run_in_executor(host.pool, load)
        future.add_done_callback(finish_load)
        try:
            yield
        finally:
            host.pool.shutdown(wait=False, cancel_futures=True)

    app = Starlette(routes=[Route("/health", health, methods=["GET"]), *routes], lifespan=lifespan)
    app.state.host = host
    return app


def serve(
    build_app: Callable[[Callable[[], None]], Starlette],
    bind_host: str,
    port: int,
    level: str,
) -> int:
    """Run the app from build_app(on_load_failure) with uvicorn until SIGINT or SIGTERM.

    Return 1 if the model failed to load, else 0.
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server: uvicorn.Server | None = None

    def stop_server() -> None:
        if server is not None:
            server.should_exit = True

    app = build_app(stop_server)
    # log_config=None leaves logging to basicConfig above, so uvicorn's records share its format.
    config = uvicorn.Config(app, host=bind_host, port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    logger.info("Starting the %s engine on http://%s:%d", app.state.host.name, bind_host, port)
    server.run()
    return 1 if app.state.host.load_failed else 0


def exit_on_invalid_settings(error: ValueError) -> int:
    print(f"Invalid engine setting: {error}", file=sys.stderr)
    return 2


def run(settings_class: type[SettingsT], build_app: Callable[[SettingsT, Callable[[], None]], Starlette]) -> int:
    """Read the engine's settings from the environment and serve build_app(settings, on_load_failure).

    Return 2 for an invalid setting, 1 if the model failed to load, else 0.
    """
    try:
        settings = settings_class.from_env(os.environ)
    except ValueError as error:
        return exit_on_invalid_settings(error)
    return serve(
        lambda on_load_failure: build_app(settings, on_load_failure), settings.host, settings.port, settings.log_level
    )
