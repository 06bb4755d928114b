"""Prometheus metrics: /metrics of the web process and the worker's exporter after real traffic.

The web runs as gunicorn with two processes and the worker as Dramatiq with two processes,
each in prometheus_client's multiprocess mode, against a fake TEI engine on loopback.
"""

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.metrics.access import allowed_networks

from .conftest import READ, ROOT, WRITE, ManagedProcess, free_port, make_key, start_web, subprocess_env
from .engines.fake_tei import FakeTeiEngine

EMBED = "/api/v1/ns/alpha/gpu/embed"

# The metrics each process must export after traffic, as sample names (docs/operations.md lists them).
WEB_METRICS = {
    "django_http_requests_total_by_view_transport_method_total",
    "django_http_responses_total_by_status_view_method_total",
    "django_http_requests_latency_seconds_by_view_method_bucket",
    "django_db_execute_total",
    "django_db_query_duration_seconds_bucket",
    "redgx_inference_queue_depth",
    "redgx_inference_queue_oldest_job_age_seconds",
    "redgx_inference_jobs_retry_backoff",
    "redgx_inference_jobs_processing",
    "redgx_dramatiq_queued_messages",
    "redgx_engine_up",
    "redgx_engine_consecutive_failures",
    "redgx_rejections_total",
    "redgx_inference_outbox_unfinished_jobs",
    "redgx_inference_redis_keys",
    "redgx_inference_redis_used_memory_bytes",
    "redgx_inference_redis_maxmemory_bytes",
    "redgx_inference_redis_up",
}
WORKER_METRICS = {
    "redgx_inference_jobs_total",
    "redgx_engine_batch_size_bucket",
    "redgx_engine_batch_size_count",
    "redgx_engine_batch_size_sum",
    "redgx_engine_call_duration_seconds_bucket",
    "redgx_engine_call_duration_seconds_count",
    "redgx_inference_retries_total",
}
# Exporters that Prometheus scrapes beside RedGX (deploy/prometheus/prometheus.yml). Names
# come from their sources: TEI's router (te_*), vLLM's metrics docs (vllm:*), and
# dcgm-exporter's default-counters.csv (DCGM_FI_*).
EXPORTER_METRICS = {
    "te_queue_size",
    "te_request_count",
    "vllm:num_requests_waiting",
    "vllm:num_requests_running",
    "vllm:kv_cache_usage_perc",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_UTIL",
}

# The WebSocket connection gauge reads the registry of connected clients, which another
# branch adds; test_websocket_connections_are_counted covers it once that is merged.
HAS_CLIENT_REGISTRY = importlib.util.find_spec("apps.pubsub.clients") is not None
# Series that Prometheus itself adds to every scrape target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds"}

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "redgx.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def scrape(url: str) -> list[tuple[str, dict, float]]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def names_of(samples) -> set[str]:
    return {name for name, _labels, _value in samples}


def value_of(samples, name: str, **labels) -> float:
    """Sum the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def wait_for(condition, timeout: float, what: str, process: ManagedProcess):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s; {process.log_path.stem} output:\n{process.output()[-3000:]}")


def start_metrics_worker(engine_url: str, port: int, directory: Path) -> ManagedProcess:
    """Start the worker as deployed: two processes, with the metrics exporter of apps.metrics.worker."""
    env = subprocess_env(
        REDGX_EMBED_ENGINE_URL=engine_url,
        dramatiq_worker_timeout="100",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        REDGX_WORKER_METRICS_PORT=str(port),
    )
    args = [sys.executable, "-m", "dramatiq", "apps.inference.worker", "apps.metrics.worker"]
    args += ["--processes", "2", "--threads", "8"]
    return ManagedProcess("metrics-worker", args, env)


# --- PromQL names ----------------------------------------------------------------------

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "inf", "nan",
}  # fmt: skip


def promql_metric_names(expression: str) -> set[str]:
    """Return the metric names an expression selects; function names, label names and keywords are left out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group()
        following = text[match.end() :].lstrip()
        if following.startswith("(") or name.lower() in PROMQL_KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", name) or text[match.start() - 1 : match.start()].isdigit():
            continue
        names.add(name)
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    import yaml

    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_promql_names_skip_functions_and_labels():
    expression = 'sum by (task) (rate(redgx_inference_jobs_total{status="failed"}[5m])) / ignoring(x) up > 0.5'
    assert promql_metric_names(expression) == {"redgx_inference_jobs_total", "up"}


def test_promql_names_keep_colons():
    assert promql_metric_names("max(vllm:num_requests_waiting) offset 5m") == {"vllm:num_requests_waiting"}


# --- Scrapes after traffic ----------------------------------------------------------------


@pytest.fixture
def engine():
    with FakeTeiEngine() as fake:
        yield fake


def test_scrapes_contain_every_metric(transactional_db, engine, tmp_path):
    key = make_key({"alpha": {READ, WRITE}})
    headers = {"X-API-Key": key}
    web_port, worker_port = free_port(), free_port()
    web = start_web(
        "metrics-web",
        web_port,
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "web"),
        REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE="2",
    )
    base = f"http://127.0.0.1:{web_port}"
    worker = None
    try:
        for n in range(5):
            response = httpx.put(f"{base}/api/v1/ns/alpha/kv/k{n}", json={"value": str(n)}, headers=headers)
            assert response.status_code == 200, response.text

        # No worker runs yet, so two jobs wait and a third is over the namespace's limit.
        req_ids = []
        for n in range(2):
            response = httpx.post(f"{base}{EMBED}", json={"inputs": [f"text {n}", "shared"]}, headers=headers)
            assert response.status_code == 202, response.text
            req_ids.append(response.json()["data"]["req_id"])
        rejected = httpx.post(f"{base}{EMBED}", json={"inputs": ["one too many"]}, headers=headers)
        assert rejected.status_code == 429, rejected.text
        time.sleep(0.2)

        waiting = scrape(f"{base}/metrics")
        assert value_of(waiting, "redgx_inference_queue_depth", task="embed") == 2
        assert value_of(waiting, "redgx_inference_queue_oldest_job_age_seconds", task="embed") > 0
        assert value_of(waiting, "redgx_inference_outbox_unfinished_jobs") == 2
        assert value_of(waiting, "redgx_rejections_total", kind="queue_full", namespace="alpha") == 1
        assert value_of(waiting, "redgx_engine_up", engine="default-embed", task="embed") == 1

        # The first engine call fails once with 503, so one attempt is retried.
        engine.fail_next(503, count=1)
        worker = start_metrics_worker(engine.url, worker_port, tmp_path / "worker")
        worker_url = f"http://127.0.0.1:{worker_port}/metrics"

        def jobs_done() -> bool:
            statuses = [
                httpx.get(f"{base}{EMBED}/{req_id}", headers=headers).json()["data"]["status"] for req_id in req_ids
            ]
            return statuses == ["done", "done"]

        wait_for(jobs_done, 30, "both jobs done", worker)

        def worker_scrape():
            try:
                samples = scrape(worker_url)
            except httpx.TransportError:
                return None
            return samples if value_of(samples, "redgx_inference_jobs_total", task="embed") == 2 else None

        worker_samples = wait_for(worker_scrape, 20, "the worker's exporter counts both jobs", worker)
        web_samples = scrape(f"{base}/metrics")
    finally:
        if worker is not None:
            worker.stop()
        web.stop()

    assert WEB_METRICS - names_of(web_samples) == set()
    assert WORKER_METRICS - names_of(worker_samples) == set()

    assert value_of(worker_samples, "redgx_inference_jobs_total", task="embed", status="done") == 2
    assert value_of(worker_samples, "redgx_inference_retries_total", task="embed", code="engine_unavailable") >= 1
    # The histograms count successful calls, and the engine's first call was the failed one.
    successful_calls = engine.calls[1:]
    assert value_of(worker_samples, "redgx_engine_batch_size_count", engine="default-embed") == len(successful_calls)
    assert value_of(worker_samples, "redgx_engine_batch_size_sum", engine="default-embed") == sum(successful_calls)
    assert value_of(worker_samples, "redgx_engine_call_duration_seconds_count", engine="default-embed") == len(
        successful_calls
    )
    assert value_of(web_samples, "redgx_inference_queue_depth", task="embed") == 0
    assert value_of(web_samples, "redgx_inference_outbox_unfinished_jobs") == 0

    # Dashboard and alert rules select only metrics that a scrape above or an engine exporter has.
    known = names_of(web_samples) | names_of(worker_samples) | EXPORTER_METRICS | PROMETHEUS_SERIES
    if not HAS_CLIENT_REGISTRY:
        known.add("redgx_websocket_connections")
    used = set().union(*(promql_metric_names(e) for e in dashboard_expressions() + alert_expressions()))
    assert used - known == set()
    assert used & EXPORTER_METRICS, "the dashboard shows no engine or GPU metric"


def test_request_counts_add_up_over_processes(transactional_db, tmp_path):
    key = make_key({"alpha": {READ, WRITE}})
    port = free_port()
    web = start_web("metrics-count-web", port, WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    base = f"http://127.0.0.1:{port}"
    try:
        # A new connection per request, so gunicorn spreads them over both processes.
        for n in range(12):
            response = httpx.put(f"{base}/api/v1/ns/alpha/kv/n{n}", json={"value": "v"}, headers={"X-API-Key": key})
            assert response.status_code == 200, response.text
        totals = [value_of(scrape(f"{base}/metrics"), "django_http_requests_total_by_method_total", method="PUT")]
        totals += [value_of(scrape(f"{base}/metrics"), "django_http_requests_total_by_method_total", method="PUT")]
        log = web.output()
    finally:
        web.stop()
    assert totals == [12, 12], log[-2000:]


@pytest.mark.skipif(
    not HAS_CLIENT_REGISTRY,
    reason="needs the registry of connected WebSocket clients (apps/pubsub/clients.py)",
)
def test_websocket_connections_are_counted(transactional_db, tmp_path):
    from .pubsub_support import Client as WebSocketClient
    from .pubsub_support import start_ws, ws_url

    key = make_key({"alpha": {READ, WRITE}})
    web_port, ws_port = free_port(), free_port()
    web = start_web("metrics-ws-web", web_port, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    ws = start_ws("metrics-ws", ws_port)
    try:
        before = value_of(scrape(f"http://127.0.0.1:{web_port}/metrics"), "redgx_websocket_connections")
        clients = [WebSocketClient(ws_url(ws_port), key) for _ in range(2)]
        time.sleep(0.5)
        during = value_of(scrape(f"http://127.0.0.1:{web_port}/metrics"), "redgx_websocket_connections")
        for client in clients:
            client.close()
    finally:
        ws.stop()
        web.stop()
    assert before == 0
    assert during == 2


# --- Access ----------------------------------------------------------------------------------


@pytest.fixture
def networks(settings):
    """Set REDGX_METRICS_ALLOWED_NETWORKS for one test."""

    def use(values: list[str]) -> None:
        settings.REDGX_METRICS_ALLOWED_NETWORKS = values
        allowed_networks.cache_clear()

    yield use
    allowed_networks.cache_clear()


def test_metrics_served_to_loopback(db):
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b'redgx_inference_queue_depth{task="embed"} 0.0' in response.content


def test_metrics_served_for_any_host_header(db):
    # Prometheus sends the target's address as the Host header, which ALLOWED_HOSTS does not list.
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_HOST="10.0.0.9:8000")
    assert response.status_code == 200


def test_metrics_hidden_from_other_addresses(db):
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 404
    assert b"redgx_" not in response.content


def test_metrics_hidden_when_forwarded(db):
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 404


def test_metrics_allowed_network_setting(db, networks):
    networks(["10.0.0.0/8"])
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_metrics_invalid_network_rejected(networks):
    networks(["10.0.0.0/33"])
    with pytest.raises(ImproperlyConfigured, match=r"10\.0\.0\.0/33"):
        allowed_networks()


def test_metrics_report_redis_down(db, settings):
    settings.CACHES = {
        **settings.CACHES,
        "inference": {**settings.CACHES["inference"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"},
    }
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert b"redgx_inference_redis_up 0.0" in response.content
    assert b"redgx_inference_queue_depth" not in response.content


def test_exporter_list_has_no_redgx_names():
    # Names in EXPORTER_METRICS skip the scrape check, so none of them may be RedGX's own.
    assert {name for name in EXPORTER_METRICS if name.startswith(("redgx_", "django_"))} == set()
