"""Shared fixtures: personas with API keys, clean Redis databases, a Dramatiq worker process."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import translation

from apps.core.redis import data_redis, inference_redis
from apps.tenancy.keys import create_api_key
from apps.tenancy.permissions import Permission

ROOT = Path(__file__).resolve().parent.parent
READ, WRITE = Permission.READ, Permission.WRITE


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with empty data and inference Redis databases (14 and 15 on the local server).

    On a data Redis Cluster FLUSHDB goes to every primary.
    """
    for client in (data_redis(), inference_redis()):
        client.flushdb()
    yield


@pytest.fixture(autouse=True)
def default_language():
    """Return to LANGUAGE_CODE after each test: a request in Korean leaves Korean active in the thread."""
    yield
    translation.deactivate()


def stored_key(key: str, namespace: str = "alpha") -> str:
    """Return the Redis key under which the gateway stores ``key`` of ``namespace``: ``ns:{alpha}:key``."""
    return f"ns:{{{namespace}}}:{key}"


_stored_client = None


def stored_redis():
    """A plain redis-py client of the data role, with redis-py's usual reply shapes, for checking what is stored."""
    import redis

    global _stored_client
    if _stored_client is None:
        if settings.REDGX_DATA_REDIS_CLUSTER:
            _stored_client = redis.RedisCluster.from_url(settings.REDGX_DATA_REDIS_URL)
        else:
            _stored_client = redis.Redis.from_url(settings.REDGX_DATA_REDIS_URL)
    return _stored_client


def stored_keys(pattern: str = "*") -> list[bytes]:
    """Return the data Redis's keys that match ``pattern``, sorted, from every node of a cluster."""
    return sorted(stored_redis().scan_iter(match=pattern))


def make_key(grants: dict[str, set[Permission]], **kwargs) -> str:
    return create_api_key("test", grants, create_namespaces=True, **kwargs).plain_key


@pytest.fixture
def owner_key(db) -> str:
    """Reads and writes namespace alpha."""
    return make_key({"alpha": {READ, WRITE}})


@pytest.fixture
def reader_key(db) -> str:
    """Reads namespace alpha only."""
    return make_key({"alpha": {READ}})


@pytest.fixture
def outsider_key(db) -> str:
    """Reads and writes namespace beta, nothing in alpha."""
    return make_key({"beta": {READ, WRITE}})


class ApiClient:
    """A Django test client that sends JSON and an API key."""

    def __init__(self, key: str | None):
        self.client = Client()
        self.key = key

    def request(self, method: str, path: str, body=None, *, raw: bytes | None = None, **extra):
        headers = {"HTTP_X_API_KEY": self.key} if self.key else {}
        headers.update(extra)
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body)
        else:
            data = ""
        return self.client.generic(method, path, data, content_type="application/json", **headers)

    def get(self, path, **extra):
        return self.request("GET", path, **extra)

    def put(self, path, body=None, **extra):
        return self.request("PUT", path, body, **extra)

    def post(self, path, body=None, **extra):
        return self.request("POST", path, body, **extra)

    def delete(self, path, **extra):
        return self.request("DELETE", path, **extra)


@pytest.fixture
def owner(owner_key) -> ApiClient:
    return ApiClient(owner_key)


@pytest.fixture
def reader(reader_key) -> ApiClient:
    return ApiClient(reader_key)


@pytest.fixture
def outsider(outsider_key) -> ApiClient:
    return ApiClient(outsider_key)


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient(None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Environment for a gateway process that shares this test run's databases."""
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redgx_project.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{connection.settings_dict['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


class ManagedProcess:
    """A child process whose output goes to a log file under test-artifacts/."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        log_dir = ROOT / "test-artifacts"
        log_dir.mkdir(exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        """Stop like a supervisor would: SIGTERM to the main process, then SIGKILL to what is left."""
        if self.process.poll() is None:
            # Only the main process: Dramatiq and granian forward SIGTERM to their own
            # children, and a second SIGTERM makes a Dramatiq worker quit without cleanup.
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)
        self.log.close()


def start_worker(name: str, engine_url: str, **overrides: str) -> ManagedProcess:
    env = subprocess_env(REDGX_EMBED_ENGINE_URL=engine_url, dramatiq_worker_timeout="100", **overrides)
    args = [sys.executable, "-m", "dramatiq", "apps.inference.worker", "--processes", "1", "--threads", "40"]
    return ManagedProcess(name, args, env)


def start_web(name: str, port: int, **overrides: str) -> ManagedProcess:
    env = subprocess_env(PORT=str(port), **overrides)
    args = [sys.executable, "deploy/web.py"]
    return wait_until_healthy(ManagedProcess(name, args, env), port)


def wait_until_healthy(process: ManagedProcess, port: int, timeout: float = 20) -> ManagedProcess:
    """Return the process once /healthz on the port answers 200; stop it and raise after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{process.log_path.stem} did not start:\n{process.output()}")
