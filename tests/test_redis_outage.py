"""The data areas while the data Redis is down, hung, and back."""

import os
import signal
import subprocess
import time

import httpx
import pytest

from .conftest import READ, WRITE, free_port, make_key, start_web


def start_redis(port: int, tmp_path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if result.stdout.strip() == "PONG":
            return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def own_redis(tmp_path):
    port = free_port()
    process = start_redis(port, tmp_path)
    holder = {"port": port, "process": process}
    yield holder
    holder["process"].kill()
    holder["process"].wait()


@pytest.fixture
def gateway(transactional_db, own_redis):
    port = free_port()
    web = start_web(
        "web-outage",
        port,
        REDGX_DATA_REDIS_URL=f"redis://127.0.0.1:{own_redis['port']}/0",
        REDGX_REDIS_SOCKET_TIMEOUT_S="1",
    )
    yield f"http://127.0.0.1:{port}/api/v1/ns/alpha/kv/item"
    web.stop()


def test_down_then_back(gateway, own_redis, tmp_path):
    headers = {"X-API-Key": make_key({"alpha": {READ, WRITE}})}
    assert httpx.put(gateway, json={"value": "v"}, headers=headers).status_code == 200

    own_redis["process"].kill()
    own_redis["process"].wait()
    for _ in range(5):
        started = time.monotonic()
        response = httpx.get(gateway, headers=headers, timeout=10)
        assert time.monotonic() - started < 3
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "redis_unavailable"
        assert response.headers["Retry-After"] == "1"

    own_redis["process"] = start_redis(own_redis["port"], tmp_path)
    deadline = time.monotonic() + 10
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(httpx.put(gateway, json={"value": "again"}, headers=headers, timeout=10).status_code)
        if statuses[-1] == 200:
            break
        time.sleep(0.2)
    assert statuses[-1] == 200, statuses
    assert httpx.get(gateway, headers=headers).json()["data"]["value"] == "again"


def test_hung_redis_answers_503_within_the_socket_timeout(gateway, own_redis):
    headers = {"X-API-Key": make_key({"alpha": {READ, WRITE}})}
    assert httpx.put(gateway, json={"value": "v"}, headers=headers).status_code == 200

    os.kill(own_redis["process"].pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = httpx.get(gateway, headers=headers, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        os.kill(own_redis["process"].pid, signal.SIGCONT)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "redis_unavailable"
    # The test settings give Redis sockets a 1 s timeout; redis-py may retry once.
    assert elapsed < 5

    assert httpx.get(gateway, headers=headers, timeout=10).status_code == 200
