"""Backpressure at submit: queue limits per task and per namespace, and a memory guard.

Past a queue limit a submit gets 429 ``queue_full`` with ``Retry-After`` estimated as the
backlog divided by the task's measured drain rate. When the inference Redis is close to
its ``maxmemory``, every submit gets 503 ``inference_redis_full``, because a full
inference Redis would start failing the writes of jobs already accepted.

The enqueue script checks the limits and queues the job in one step (apps.inference.queues),
so concurrent submits cannot overshoot a limit.
"""

import logging
import math
import threading
import time

from django.conf import settings
from django.utils.translation import gettext as _

from apps.api.errors import QueueFull, ServiceUnavailable
from apps.core.redis import inference_redis

from . import queues, stats

logger = logging.getLogger(__name__)

MIN_RETRY_AFTER_S = 1
MAX_RETRY_AFTER_S = 300
# INFO memory is read at most this often per process.
MEMORY_SAMPLE_INTERVAL_S = 1.0


def check_memory(namespace: str) -> None:
    """Raise 503 when the inference Redis is too full to take a new job."""
    if inference_redis_is_full():
        stats.record_rejection("inference_redis_full", namespace)
        raise ServiceUnavailable(
            _("The inference queue is out of memory. Retry later."),
            code="inference_redis_full",
            retry_after=settings.REDGX_QUEUE_FULL_RETRY_AFTER_S,
        )


def queue_limits(quota=None) -> queues.QueueLimits:
    """Return the queue limits of a submit.

    ``quota`` is the API key's quota policy when it has one; its ``max_queued_jobs``
    replaces REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE.
    """
    namespace_limit = getattr(quota, "max_queued_jobs", None) or settings.REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE
    return queues.QueueLimits(task=settings.REDGX_MAX_QUEUED_JOBS_PER_TASK, namespace=namespace_limit)


def reject_queue_full(task: str, namespace: str, backlog: int, limit: int) -> None:
    """Raise 429 queue_full with Retry-After from the task's drain rate, and count the rejection."""
    stats.record_rejection("queue_full", namespace)
    raise QueueFull(
        _("The '%(task)s' queue holds %(count)d waiting jobs, the limit is %(limit)d. Retry later.")
        % {"task": task, "count": backlog, "limit": limit},
        retry_after=retry_after_s(task, backlog),
    )


def retry_after_s(task: str, backlog: int) -> int:
    """Estimate the seconds until ``backlog`` jobs drain at the task's rate of the last minute.

    NOTE: for a namespace's backlog this assumes the namespace gets the whole task's rate,
    so under fair sharing between namespaces the estimate is too short.
    """
    rate = stats.drain_rate(task)
    if rate <= 0:
        # Nothing finished in the last minute, so the backlog is not moving.
        return MAX_RETRY_AFTER_S
    return max(MIN_RETRY_AFTER_S, min(MAX_RETRY_AFTER_S, math.ceil(backlog / rate)))


class _MemorySample:
    def __init__(self):
        self.lock = threading.Lock()
        self.taken_at = -math.inf
        self.full = False


_memory_sample = _MemorySample()


def inference_redis_is_full() -> bool:
    """True when the inference Redis uses more than REDGX_INFERENCE_MEMORY_HIGH_WATER of its maxmemory.

    False when no maxmemory is set. The result is cached for MEMORY_SAMPLE_INTERVAL_S.
    """
    sample = _memory_sample
    with sample.lock:
        now = time.monotonic()
        if now - sample.taken_at >= MEMORY_SAMPLE_INTERVAL_S:
            sample.full = _memory_above_high_water()
            sample.taken_at = now
        return sample.full


def _memory_above_high_water() -> bool:
    info = inference_redis().info("memory")
    maxmemory = int(info.get("maxmemory", 0))
    if maxmemory <= 0:
        return False
    used = int(info["used_memory"])
    full = used > settings.REDGX_INFERENCE_MEMORY_HIGH_WATER * maxmemory
    if full:
        logger.warning("Inference Redis uses %d of %d bytes; rejecting new jobs", used, maxmemory)
    return full


def forget_memory_sample() -> None:
    """Make the next check read INFO memory again, for tests that change maxmemory."""
    _memory_sample.taken_at = -math.inf
