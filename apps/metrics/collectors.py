"""Gauges read from the inference Redis at scrape time.

Queue depths, engine circuits, Redis memory and WebSocket connections live in Redis, so
every web process reads the same values, and one scrape of any process is enough. With
several web replicas each exports the same series; dashboards and alerts take ``max``.
"""

import logging
import time

import redis.exceptions
from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.adminapi.inference_state import circuit_snapshot, queue_snapshot
from apps.core.redis import inference_redis
from apps.inference import queues
from apps.inference.broker import queued_message_count
from apps.inference.engines.registry import TASK_PROTOCOLS, engines_for_task

logger = logging.getLogger(__name__)

# Seconds between two warnings about a failed scrape-time read in one process.
_WARNING_INTERVAL_S = 60.0


def _connected_websocket_clients() -> int | None:
    """Count live WebSocket connections of every ASGI process, or None without the client registry."""
    try:
        from apps.pubsub.clients import list_connected_clients
    except ImportError:
        return None
    return len(list_connected_clients())


class InferenceStateCollector(Collector):
    """Export the inference broker's state: queues, engines, outbox, Redis memory, WebSocket clients."""

    def __init__(self) -> None:
        self._last_warning = 0.0

    def collect(self):
        up = GaugeMetricFamily(
            "redgx_inference_redis_up", "1 when the last scrape could read the inference Redis, else 0."
        )
        try:
            families = list(self._read())
        except (redis.exceptions.RedisError, DatabaseError) as exc:
            self._warn(exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARNING_INTERVAL_S:
            logger.warning("Could not read the inference state for /metrics: %s", exc)
            self._last_warning = now

    def _read(self):
        yield from self._queues()
        yield from self._engines()
        yield from self._redis()
        connections = _connected_websocket_clients()
        if connections is not None:
            gauge = GaugeMetricFamily(
                "redgx_websocket_connections", "Open WebSocket connections over every ASGI process."
            )
            gauge.add_metric([], connections)
            yield gauge

    def _queues(self):
        depth = GaugeMetricFamily(
            "redgx_inference_queue_depth",
            "Queued jobs per task: waiting to be taken plus waiting out a retry backoff.",
            labels=["task"],
        )
        oldest = GaugeMetricFamily(
            "redgx_inference_queue_oldest_job_age_seconds",
            "Age of the oldest job waiting to be taken per task, in seconds; 0 when none waits.",
            labels=["task"],
        )
        retrying = GaugeMetricFamily(
            "redgx_inference_jobs_retry_backoff",
            "Jobs per task waiting out a retry backoff after a transient engine error.",
            labels=["task"],
        )
        processing = GaugeMetricFamily(
            "redgx_inference_jobs_processing", "Jobs per task leased by a worker.", labels=["task"]
        )
        wakeups = GaugeMetricFamily(
            "redgx_dramatiq_queued_messages",
            "Dramatiq wake-up messages per queue that no worker has acknowledged yet, delayed ones included.",
            labels=["queue"],
        )
        client = inference_redis()
        for task in TASK_PROTOCOLS:
            snapshot = queue_snapshot(task)
            depth.add_metric([task], snapshot["depth"])
            oldest.add_metric([task], snapshot["oldest_age_s"] or 0.0)
            pipeline = client.pipeline(transaction=False)
            pipeline.zcard(queues.delayed_key(task))
            pipeline.zcard(queues.leases_key(task))
            delayed, leased = pipeline.execute()
            retrying.add_metric([task], delayed)
            processing.add_metric([task], leased)
            wakeups.add_metric([task], queued_message_count(task))
        yield from (depth, oldest, retrying, processing, wakeups)

    def _engines(self):
        up = GaugeMetricFamily(
            "redgx_engine_up",
            "1 while the engine's circuit breaker is closed, 0 while it is open and workers send it nothing.",
            labels=["engine", "task"],
        )
        failures = GaugeMetricFamily(
            "redgx_engine_consecutive_failures",
            "Transient failures in a row of the engine; REDGX_ENGINE_FAILURE_THRESHOLD of them open its circuit.",
            labels=["engine", "task"],
        )
        for task in TASK_PROTOCOLS:
            for engine in engines_for_task(task):
                circuit = circuit_snapshot(engine.name)
                up.add_metric([engine.name, task], 1 if circuit["state"] == "closed" else 0)
                failures.add_metric([engine.name, task], circuit["failures"])
        yield from (up, failures)

    def _redis(self):
        client = inference_redis()
        memory = client.info("memory")
        used = GaugeMetricFamily("redgx_inference_redis_used_memory_bytes", "Memory used by the inference Redis.")
        used.add_metric([], memory["used_memory"])
        limit = GaugeMetricFamily(
            "redgx_inference_redis_maxmemory_bytes", "maxmemory of the inference Redis; 0 when it has no limit."
        )
        limit.add_metric([], memory.get("maxmemory", 0))
        # Finished jobs stay in the outbox until REDGX_RESULT_TTL_S, and counting their hashes
        # would need a SCAN of the whole database per scrape. So only unfinished jobs are counted
        # exactly, and redgx_inference_redis_keys is an upper bound for the whole outbox.
        unfinished = GaugeMetricFamily(
            "redgx_inference_outbox_unfinished_jobs", "Jobs in the outbox that have no final status yet."
        )
        unfinished.add_metric([], client.zcard(queues.DEADLINES_KEY))
        keys = GaugeMetricFamily(
            "redgx_inference_redis_keys",
            "Keys in the inference Redis database: job hashes with their results, queues and counters.",
        )
        keys.add_metric([], client.dbsize())
        yield from (used, limit, unfinished, keys)
