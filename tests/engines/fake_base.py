"""Shared machinery of the fake engines: a real HTTP server on 127.0.0.1 with fault switches.

A fake engine subclasses FakeEngine and implements ``route(request)``. Inside a work
route it calls ``self.begin_call(request, size)``, which records the call and applies
the switches in this order: latency or hang, then a queued failure, then a random
failure. Tests flip switches from their own thread while requests are in flight.

    with FakeTranslateEngine() as engine:
        engine.fail_next(503, count=2)
        ...  # point a client at engine.url
        assert engine.batch_sizes == [3, 3, 3]
        assert len(set(engine.request_ids)) == 3

``run_standalone`` serves one fake in the foreground for bench/ and manual runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

HANG_SECONDS = 60.0
# A trickled reply sends one byte this often, so every read of the client gets data in time.
TRICKLE_INTERVAL_S = 0.2


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    # Seconds the body takes to arrive when sent one byte per TRICKLE_INTERVAL_S. With 0 it goes out at once.
    trickle_s: float = 0.0

    @classmethod
    def json(cls, status: int, body: Any) -> Reply:
        return cls(status, json.dumps(body).encode())

    @classmethod
    def text(cls, status: int, body: str) -> Reply:
        return cls(status, body.encode(), "text/plain; charset=utf-8")


@dataclass(frozen=True)
class Call:
    """One work request the fake received, failed ones included."""

    path: str
    size: int
    request_id: str | None
    params: dict = field(default_factory=dict)


class Rejected(Exception):
    """Raised inside a route to return an error status with the protocol's error body."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


class Stopped(Exception):
    """stop() interrupted a call that was waiting; the handler closes the connection without a reply."""


class LockedSwitch:
    """A FakeEngine attribute that is read and written under the engine's lock."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute = f"_{name}"

    def __get__(self, engine: FakeEngine | None, owner: type | None = None) -> Any:
        if engine is None:
            return self
        with engine._lock:
            return getattr(engine, self._attribute)

    def __set__(self, engine: FakeEngine, value: Any) -> None:
        with engine._lock:
            setattr(engine, self._attribute, value)


class FakeEngine:
    """An engine protocol served on 127.0.0.1 with an OS-chosen port.

    Switches (each safe to set while requests are in flight):
    - latency_s: seconds to wait before replying to each work call.
    - hang: work calls wait HANG_SECONDS before replying. stop() cuts the wait short and
      closes the connection without a reply.
    - failure_rate: the share of work calls, from 0 to 1, that fail with failure_status.
      The draw uses a random.Random seeded at construction, so a run repeats.
    - failure_status: the status of those random failures (503 by default).
    - healthy: False makes GET /health answer 503.
    - malformed_replies: successful work calls answer 200 with ``{"unexpected": true}``,
      a body that matches no protocol.
    """

    # Used in thread names and log lines.
    kind = "fake"
    # Value of the Server header. None sends http.server's default.
    server_version: str | None = None

    latency_s = LockedSwitch()
    hang = LockedSwitch()
    failure_rate = LockedSwitch()
    failure_status = LockedSwitch()
    healthy = LockedSwitch()
    malformed_replies = LockedSwitch()

    def __init__(self, *, seed: int = 0) -> None:
        """Set up the switches. A subclass must store what its apply_defaults() reads before it calls this."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._seed = seed
        self._random = random.Random(seed)
        self._calls: list[Call] = []
        self._pending_failures: list[tuple[int, str | None]] = []
        self._apply_base_defaults()
        self.apply_defaults()

    def _apply_base_defaults(self) -> None:
        with self._lock:
            self._latency_s = 0.0
            self._hang = False
            self._failure_rate = 0.0
            self._failure_status = 503
            self._healthy = True
            self._malformed_replies = False

    def apply_defaults(self) -> None:
        """Restore a subclass's own switches. __init__ and reset() call this."""

    # Serving.

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} has no URL until start() has been called")
        return f"http://127.0.0.1:{self._port}"

    def start(self, port: int = 0) -> FakeEngine:
        """Start serving. After a stop() this binds the previous port again, so url stays the same."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self._port or port), _Handler)
        server.daemon_threads = True
        server.fake_engine = self  # type: ignore[attr-defined]
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.kind}-{self._port}",
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

    def __enter__(self) -> FakeEngine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Switches and records.

    def fail_next(self, status: int, count: int = 1, error_type: str | None = None) -> None:
        """Make the next count work calls fail with status, whatever they contain."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status from 400 to 599, got {status}")
        if count < 1:
            raise ValueError(f"count must be 1 or greater, got {count}")
        with self._lock:
            self._pending_failures.extend([(status, error_type)] * count)

    def reset(self) -> None:
        """Clear recorded calls and queued failures and restore every switch to its default."""
        with self._lock:
            self._calls.clear()
            self._pending_failures.clear()
            self._random = random.Random(self._seed)
        self._apply_base_defaults()
        self.apply_defaults()

    def _recorded_calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def calls(self) -> list[Call]:
        return self._recorded_calls()

    @property
    def batch_sizes(self) -> list[int]:
        """Items per work call received so far, failed calls included."""
        return [call.size for call in self._recorded_calls()]

    @property
    def request_ids(self) -> list[str | None]:
        """X-Request-Id of every work call received so far, in arrival order."""
        return [call.request_id for call in self._recorded_calls()]

    def record_call(self, request: Request, size: int, params: dict | None = None) -> None:
        """Record a work call without applying any switch, as for a body rejected before the engine's handler."""
        with self._lock:
            self._calls.append(Call(request.path, size, request.request_id, params or {}))

    def wait(self, seconds: float) -> bool:
        """Sleep up to seconds and return False if stop() cut the sleep short."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def begin_call(self, request: Request, size: int, params: dict | None = None) -> None:
        """Record a work call, then apply the wait and failure switches. Raise Rejected or Stopped."""
        self.record_call(request, size, params)
        with self._lock:
            wait_s = HANG_SECONDS if self._hang else self._latency_s
            queued = self._pending_failures.pop(0) if self._pending_failures else None
            random_failure = self._failure_rate > 0 and self._random.random() < self._failure_rate
            failure_status = self._failure_status

        if wait_s > 0 and not self.wait(wait_s):
            raise Stopped
        if queued is not None:
            status, error_type = queued
            raise Rejected(status, f"fake failure with status {status}", error_type)
        if random_failure:
            raise Rejected(failure_status, f"fake random failure with status {failure_status}")

    # Protocol hooks.

    def route(self, request: Request) -> Reply:
        """Build the reply to one request. Subclasses serve their protocol here."""
        return Reply.text(404, "not found")

    def health(self) -> Reply:
        if self.healthy:
            return Reply.json(200, {"status": "ok"})
        return self.error_reply(Rejected(503, "the engine is unhealthy", "unhealthy"))

    def error_reply(self, error: Rejected) -> Reply:
        """Build the protocol's error body; RedGX's protocols use {"error", "error_type"?}."""
        body: dict[str, str] = {"error": error.message}
        if error.error_type:
            body["error_type"] = error.error_type
        return Reply.json(error.status, body)

    def dispatch(self, request: Request) -> Reply | None:
        if request.method == "GET" and request.path == "/health":
            return self.health()
        try:
            reply = self.route(request)
        except Stopped:
            return None
        except Rejected as error:
            return self.error_reply(error)
        if reply.status == 200 and request.method == "POST" and self.malformed_replies:
            return Reply.json(200, {"unexpected": True})
        return reply


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def engine(self) -> FakeEngine:
        return self.server.fake_engine  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        # NOTE: only bodies with a Content-Length are read, so a chunked body counts as empty.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.engine.dispatch(Request(method, self.path.split("?", 1)[0], headers, body))
        if reply is None:
            self.close_connection = True
            return
        # Every response closes its connection, so a stopped engine keeps no pooled client connection.
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = self._trickle(reply.body, reply.trickle_s) if reply.trickle_s else 0
        self.wfile.write(reply.body[sent:])
        self.close_connection = True

    def _trickle(self, body: bytes, seconds: float) -> int:
        """Send body one byte per TRICKLE_INTERVAL_S for up to seconds and return the count sent.

        The last byte always stays for the caller to write.
        """
        sent = 0
        for _ in range(int(seconds / TRICKLE_INTERVAL_S)):
            if sent >= len(body) - 1 or not self.engine.wait(TRICKLE_INTERVAL_S):
                break
            self.wfile.write(body[sent : sent + 1])
            sent += 1
        return sent

    def version_string(self) -> str:
        if self.engine.server_version is None:
            return super().version_string()
        return f"{self.engine.server_version} {self.sys_version}"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake %s %s: " + format, self.engine.kind, self.address_string(), *args)


def decode_json_body(request: Request) -> Any:
    """Return the JSON body, or raise the 400 or 415 a JSON engine answers."""
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Rejected(415, "expected Content-Type: application/json")
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(400, f"invalid JSON body: {error}") from None


def standalone_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--latency-s", type=float, default=0.0, help="seconds to wait before each work reply")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of work calls that fail, 0 to 1")
    parser.add_argument("--failure-status", type=int, default=503, help="status of those failures")
    parser.add_argument("--seed", type=int, default=0, help="seed of the failure draws")
    return parser


def run_standalone(engine: FakeEngine, description: str, argv: list[str] | None = None) -> None:
    """Serve engine on 127.0.0.1 until interrupted, with the port and switches from the command line."""
    args = standalone_parser(description).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    engine.latency_s = args.latency_s
    engine.failure_rate = args.failure_rate
    engine.failure_status = args.failure_status
    engine.start(args.port)
    # bench/ scripts wait for this line to learn the port.
    print(f"fake {engine.kind} engine listening on {engine.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
