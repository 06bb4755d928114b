"""RedGX's own Prometheus counters and histograms, incremented where each event happens.

apps/inference/stats.py calls these from its record_* functions, so one call site feeds
both the Redis counters of the admin dashboard and Prometheus. With PROMETHEUS_MULTIPROC_DIR
set, prometheus_client writes every value to a file per process, and the web's /metrics and
the worker's exporter add them up, so several granian or Dramatiq processes give one total.
"""

import logging
import time

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

# Engine calls carry up to REDGX_*_BATCH_SIZE items, 32 for embed by default. TEI's own
# --max-client-batch-size also defaults to 32, and some deployments raise it.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# From a fast embedding call to a long transcription (REDGX_STT_TIMEOUT_S is 300 s by default).
ENGINE_CALL_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

JOBS = Counter(
    "redgx_inference_jobs",
    "Inference jobs that reached a final status, by task and status (done or failed).",
    ["task", "status"],
)
BATCH_SIZE = Histogram(
    "redgx_engine_batch_size",
    "Items carried by one engine call, per engine.",
    ["engine"],
    buckets=BATCH_SIZE_BUCKETS,
)
ENGINE_CALL_DURATION = Histogram(
    "redgx_engine_call_duration_seconds",
    "Duration of one successful engine call, per engine.",
    ["engine"],
    buckets=ENGINE_CALL_BUCKETS_S,
)
RETRIES = Counter(
    "redgx_inference_retries",
    "Engine attempts that failed with a transient error and were scheduled again, by task and error code.",
    ["task", "code"],
)
REJECTIONS = Counter(
    "redgx_rejections",
    "Rejected requests by kind (queue_full, inference_redis_full, rate_limited) and namespace.",
    ["kind", "namespace"],
)


# Seconds between two warnings about failed metric updates in one process.
_WARNING_INTERVAL_S = 60.0
_last_warning = 0.0


def job_finished(task: str, status: str) -> None:
    _update(lambda: JOBS.labels(task=task, status=status).inc())


def batch_sent(engine: str, size: int, engine_ms: float) -> None:
    _update(lambda: BATCH_SIZE.labels(engine=engine).observe(size))
    _update(lambda: ENGINE_CALL_DURATION.labels(engine=engine).observe(engine_ms / 1000))


def job_retried(task: str, code: str) -> None:
    _update(lambda: RETRIES.labels(task=task, code=code).inc())


def request_rejected(kind: str, namespace: str | None) -> None:
    _update(lambda: REJECTIONS.labels(kind=kind, namespace=namespace or "").inc())


def _update(update) -> None:
    # In multiprocess mode a new label set opens a file in PROMETHEUS_MULTIPROC_DIR. A missing
    # or full directory must cost a metric, never the job or request that is being counted.
    global _last_warning
    try:
        update()
    except OSError as exc:
        now = time.monotonic()
        if now - _last_warning >= _WARNING_INTERVAL_S:
            logger.warning("Could not update a Prometheus metric in PROMETHEUS_MULTIPROC_DIR: %s", exc)
            _last_warning = now
