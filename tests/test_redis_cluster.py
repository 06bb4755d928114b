"""The data areas on a local three-master Redis Cluster.

The fixture starts three ``redis-server`` processes in cluster mode on loopback, joins
them with ``redis-cli --cluster create`` and waits for ``cluster_state:ok``. One test runs
the data-area test modules in a pytest subprocess whose data Redis is that cluster
(REDGX_DATA_REDIS_CLUSTER=1), so every test in them also passes against a cluster. The
other stops the master of a namespace's slot and expects 503 from the API and /readyz.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.test import Client, override_settings

from .conftest import ROOT, free_port, stored_key

# Together these send every multi-key operation of the data areas (set algebra, LMOVE and
# the blocking pops, MGET/MSET, XREAD over several streams, the atomic pipeline's script,
# SCAN) and of the Upstash-compatible API, plus PUBLISH and /readyz on the data role.
CLUSTER_TEST_MODULES = [
    "tests/test_kv.py",
    "tests/test_area_map.py",
    "tests/test_area_queue.py",
    "tests/test_area_group.py",
    "tests/test_area_rank.py",
    "tests/test_area_event.py",
    "tests/test_pipeline.py",
    "tests/test_list_keys.py",
    "tests/test_key_names.py",
    "tests/test_blocking.py",
    "tests/test_compat_isolation.py",
    "tests/test_compat_protocol.py",
    "tests/test_pubsub_rest.py",
    "tests/test_health.py",
]
MASTERS = 3
START_TIMEOUT_S = 10
CLUSTER_OK_TIMEOUT_S = 30
TEST_RUN_TIMEOUT_S = 600

pytestmark = [
    pytest.mark.skipif(
        settings.REDGX_DATA_REDIS_CLUSTER,
        reason="starts its own cluster run, so it runs only against a standalone data Redis",
    ),
    pytest.mark.skipif(
        shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
        reason="redis-server and redis-cli are not installed",
    ),
]


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def wait_until(check, timeout_s: float, description: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{description} did not happen within {timeout_s} s")


class LocalCluster:
    """Three cluster-mode redis-server processes on loopback, joined into one cluster."""

    def __init__(self, tmp_path_factory):
        ports = free_ports(2 * MASTERS)
        self.node_ports, self.bus_ports = ports[:MASTERS], ports[MASTERS:]
        self.tmp_path_factory = tmp_path_factory
        # port -> (process, log file)
        self.processes: dict[int, tuple[subprocess.Popen, object]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.node_ports[0]}/0"

    def start(self) -> None:
        for port, bus_port in zip(self.node_ports, self.bus_ports, strict=True):
            directory = self.tmp_path_factory.mktemp(f"redis-cluster-{port}")
            log = open(directory / "redis.log", "wb")  # noqa: SIM115 - closed in stop()
            process = subprocess.Popen(
                ["redis-server", "--port", str(port), "--cluster-port", str(bus_port),
                 "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--dir", str(directory),
                 "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            self.processes[port] = (process, log)
        for port in self.node_ports:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            wait_until(client.ping, START_TIMEOUT_S, f"redis-server on port {port} answering PING")

        create = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.node_ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            timeout=60,
            text=True,
        )  # fmt: skip
        assert create.returncode == 0, create.stdout + create.stderr
        for port in self.node_ports:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            wait_until(
                lambda client=client: client.cluster("info")["cluster_state"] == "ok",
                CLUSTER_OK_TIMEOUT_S,
                f"node {port} reporting cluster_state:ok",
            )

    def stop_node(self, port: int) -> None:
        process, log = self.processes.pop(port)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()

    def stop(self) -> None:
        for port in list(self.processes):
            self.stop_node(port)


@pytest.fixture
def local_cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def cluster_run_database_url() -> str:
    """Return DATABASE_URL with another database name, so the subprocess's test database is its own."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_cluster"))


# The pytest run inside takes about 70 s on a quiet machine; the default 120 s is too tight under load.
@pytest.mark.timeout(TEST_RUN_TIMEOUT_S + 60)
def test_data_area_tests_pass_on_cluster(local_cluster):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redgx_project.settings.test",
        "DATABASE_URL": cluster_run_database_url(),
        "REDGX_DATA_REDIS_URL": local_cluster.url,
        "REDGX_DATA_REDIS_CLUSTER": "1",
        "PYTHONUNBUFFERED": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *CLUSTER_TEST_MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=TEST_RUN_TIMEOUT_S,
        text=True,
    )
    summary = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, summary
    last_line = run.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", last_line), summary
    assert "failed" not in last_line, summary
    assert "error" not in last_line, summary


def test_lost_master_is_503(local_cluster, owner):
    node_of_alpha = redis.RedisCluster.from_url(local_cluster.url).get_node_from_key(stored_key("k"))
    with override_settings(REDGX_DATA_REDIS_URL=local_cluster.url, REDGX_DATA_REDIS_CLUSTER=True):
        assert owner.put("/api/v1/ns/alpha/kv/k", {"value": "v"}).status_code == 200
        assert Client().get("/readyz").status_code == 200

        local_cluster.stop_node(node_of_alpha.port)
        response = owner.get("/api/v1/ns/alpha/kv/k")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "redis_unavailable"
        readiness = Client().get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["data"]["checks"]["data_redis"]["ok"] is False
