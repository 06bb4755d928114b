"""PostgreSQL unreachable: warm keys keep working, unknown keys get 503, access rows wait.

The shared PostgreSQL server is never stopped. The web process reaches it through a
loopback TCP proxy owned by the test, and the test cuts that proxy.
"""

import contextlib
import socket
import threading
import time

import httpx
import pytest
from django.db import connection

from apps.access.models import AccessRecord
from apps.tenancy.models import ApiKey

from .conftest import READ, free_port, make_key, start_web

KV = "/api/v1/ns/alpha/kv/k"


class TcpProxy:
    """Forwards 127.0.0.1:port to a target port until cut(); restore() listens again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        # A short timeout lets the accept loop notice cut().
        listener.settimeout(0.1)
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones, as a database that went away."""
        self._stopping.set()
        self._acceptor.join(5)
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    restore = start

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _address = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                with self._lock:
                    self._sockets.update((client, upstream))
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy():
    database = connection.settings_dict
    tcp_proxy = TcpProxy(database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432))
    tcp_proxy.start()
    yield tcp_proxy
    tcp_proxy.cut()


@pytest.fixture
def web(proxy, transactional_db):
    database = connection.settings_dict
    port = free_port()
    process = start_web(
        "outage-web",
        port,
        # One process, so that the key warmed below is in the cache that serves the outage.
        WEB_CONCURRENCY="1",
        DATABASE_URL=f"postgres://{database['USER']}@127.0.0.1:{proxy.port}/{database['NAME']}",
        REDGX_KEY_CACHE_TTL_S="1",
        REDGX_ACCESS_FLUSH_S="0.2",
    )
    yield f"http://127.0.0.1:{port}", process
    process.stop()


def get(base_url: str, key: str) -> httpx.Response:
    return httpx.get(f"{base_url}{KV}", headers={"X-API-Key": key}, timeout=10)


def prefix_of(plain_key: str) -> str:
    return ApiKey.objects.get(digest=ApiKey.digest_of(plain_key)).prefix


def wait_until(condition, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_outage_serves_warm_keys_and_keeps_rows(web, proxy):
    base_url, process = web
    warm, cold = make_key({"alpha": {READ}}), make_key({"alpha": {READ}})
    warm_prefix = prefix_of(warm)
    # The cache listener starts with the first request and empties the cache once connected,
    # so the key is warmed by a request after that.
    assert get(base_url, warm).status_code == 404
    assert wait_until(lambda: "API key invalidation listener connected" in process.output())
    assert get(base_url, warm).status_code == 404
    assert wait_until(lambda: AccessRecord.objects.filter(key_prefix=warm_prefix).count() == 2)

    proxy.cut()
    time.sleep(1.5)  # past the cache TTL of 1 s

    during_outage = [get(base_url, warm) for _ in range(5)]
    assert [response.status_code for response in during_outage] == [404] * 5

    unknown = get(base_url, cold)
    assert unknown.status_code == 503
    assert unknown.json()["error"]["code"] == "database_unavailable"
    assert unknown.headers["Retry-After"] == "1"

    time.sleep(1.0)  # several flush attempts fail meanwhile
    assert AccessRecord.objects.filter(key_prefix=warm_prefix).count() == 2

    proxy.restore()
    assert wait_until(lambda: AccessRecord.objects.filter(key_prefix=warm_prefix).count() == 7), process.output()[
        -3000:
    ]
    assert AccessRecord.objects.filter(key_prefix="", status=503).count() == 1
    assert get(base_url, cold).status_code == 404

    log = process.output()
    assert "cached API keys are served past their TTL" in log
    assert "Could not write access history" in log
    assert "Traceback" not in log
