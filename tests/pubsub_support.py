"""Helpers for pub/sub tests: uvicorn processes serving WebSockets, and WebSocket clients."""

import json
import socket
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import ManagedProcess, free_port, start_web, subprocess_env, wait_until_healthy

WS_PATH = "/ws/v1/ns/{namespace}/pubsub"


def start_ws(name: str, port: int, *, ping_interval: float = 20, ping_timeout: float = 20, **env) -> ManagedProcess:
    """Start the ASGI server as deployed (uvicorn, one process) and wait until it serves HTTP."""
    args = [
        sys.executable, "-m", "uvicorn", "redgx_project.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on", "--no-proxy-headers",
        "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--ws-max-size", "1048576",
        "--ws-ping-interval", str(ping_interval), "--ws-ping-timeout", str(ping_timeout),
    ]  # fmt: skip
    return wait_until_healthy(ManagedProcess(name, args, subprocess_env(**env)), port)


@pytest.fixture(scope="module")
def ws_port(django_db_setup) -> int:
    """Port of a uvicorn process shared by the tests of one module."""
    port = free_port()
    process = start_ws("ws", port)
    yield port
    process.stop()


@pytest.fixture(scope="module")
def web_url(django_db_setup) -> str:
    """Base URL of a gunicorn process (the REST API) shared by the tests of one module."""
    port = free_port()
    process = start_web("pubsub-web", port)
    yield f"http://127.0.0.1:{port}"
    process.stop()


def ws_url(port: int, namespace: str = "alpha") -> str:
    return f"ws://127.0.0.1:{port}" + WS_PATH.format(namespace=namespace)


class Client:
    """A blocking WebSocket client speaking the pub/sub protocol.

    Frames that arrive while the client waits for a particular one (an acknowledgement,
    a close) are kept in ``pending`` and returned by later calls, in order.
    """

    def __init__(self, url: str, key: str | None = None, *, subprotocols=None, expect_welcome=True, **options):
        headers = {"X-API-Key": key} if key else None
        self.ws: ClientConnection = connect(
            url, additional_headers=headers, subprotocols=subprotocols, open_timeout=10, legacy=True, **options
        )
        self.pending: list[dict] = []
        self.next_id = 0
        self.welcome = self.next_frame() if expect_welcome else None

    def next_frame(self, timeout: float = 5) -> dict:
        if self.pending:
            return self.pending.pop(0)
        return json.loads(self.ws.recv(timeout=timeout))

    def request(self, frame_type: str, timeout: float = 10, **fields) -> dict:
        """Send a request and return the reply to it (the frame with the same id)."""
        self.next_id += 1
        request_id = self.next_id
        self.ws.send(json.dumps({"type": frame_type, "id": request_id, **fields}))
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            frame = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if frame.get("id") == request_id:
                self.pending.extend(skipped)
                return frame
            skipped.append(frame)

    def subscribe(self, *channels: str) -> dict:
        ack = self.request("subscribe", channels=list(channels))
        assert ack["type"] == "subscribed", ack
        return ack

    def psubscribe(self, *patterns: str) -> dict:
        ack = self.request("psubscribe", patterns=list(patterns))
        assert ack["type"] == "psubscribed", ack
        return ack

    def messages(self, count: int, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        return [self.next_frame(timeout=max(0.01, deadline - time.monotonic())) for _ in range(count)]

    def nothing_within(self, seconds: float) -> bool:
        """True if no frame arrives within ``seconds``."""
        if self.pending:
            return False
        try:
            self.pending.append(json.loads(self.ws.recv(timeout=seconds)))
        except TimeoutError:
            return True
        return False

    def close_code(self, timeout: float = 10) -> tuple[int, str, list[dict]]:
        """Read until the server closes; return the close code, its reason and the frames before it."""
        frames, self.pending = self.pending, []
        deadline = time.monotonic() + timeout
        try:
            while True:
                frames.append(json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, f"closed without a close frame: {closed!r}"
            return closed.rcvd.code, closed.rcvd.reason, frames

    def close(self) -> None:
        self.ws.close()


def small_buffer_socket(port: int, receive_buffer: int = 4096) -> socket.socket:
    """A connected TCP socket whose receive buffer cannot grow, so a client that stops reading
    stops the server's writes after a few kilobytes instead of after the kernel's autotuned
    maximum (tens of megabytes on Linux loopback)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    return sock


def subscriber_count(redis_url: str, redis_channel: str) -> int:
    """How many Redis connections subscribe to a channel (PUBSUB NUMSUB)."""
    with redis.Redis.from_url(redis_url) as client:
        return client.pubsub_numsub(redis_channel)[0][1]


def wait_until(condition, timeout: float, interval: float = 0.05, message: str = "condition") -> float:
    """Poll until ``condition()`` is true; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{message} not reached within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


def data_redis_url() -> str:
    return settings.REDGX_DATA_REDIS_URL


def start_redis_server(port: int, directory) -> subprocess.Popen:
    """A throwaway redis-server on a loopback port, without persistence."""
    args = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", str(directory),
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return process
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")
