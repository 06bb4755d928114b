"""Inference counters in the inference Redis: job outcomes, engine batches, rejections, queue depths.

Counters are kept per time bucket of BUCKET_S seconds, one hash per kind and bucket
(``redgx:stats:{kind}:{bucket}``), and expire REDGX_STATS_RETENTION_S after their
bucket ends, so memory stays bounded without a cleanup job. Hash fields are JSON lists
such as ``["embed", "shop", "done"]``, because engine names may contain any character.

Writers make one pipelined round trip and log Redis errors instead of raising them,
because a lost counter must not fail a job or a request. Readers turn counts into
rates per second over a window that ends now.
Bucket numbers come from each process's clock, so processes on hosts whose clocks
differ by more than a second or two put the same moment in neighbouring buckets.
"""

import functools
import json
import logging
import time
from collections import defaultdict

import redis.exceptions
from django.conf import settings

from apps.core.redis import inference_redis
from apps.metrics import instruments

logger = logging.getLogger(__name__)

BUCKET_S = 5
KEY_PREFIX = "redgx:stats"

# Seconds since the epoch. Tests replace it to put counts into chosen buckets.
clock = time.time

# Seconds between two warnings about failed counter writes in one process.
_WRITE_WARNING_INTERVAL_S = 60.0
_last_write_warning = 0.0
_failed_writes = 0


def _bucket(timestamp: float) -> int:
    return int(timestamp // BUCKET_S)


def _key(kind: str, bucket: int) -> str:
    return f"{KEY_PREFIX}:{kind}:{bucket}"


def _field(*parts: str) -> str:
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def _ttl_s() -> int:
    return settings.REDGX_STATS_RETENTION_S + BUCKET_S


# --- writers -------------------------------------------------------------------------


def record_outcome(task: str, namespace: str, status: str) -> None:
    """Count one job that reached a final status (``done`` or ``failed``).

    Call it once per job, when its final status is written, never for a retry.
    """
    key = _key("outcome", _bucket(clock()))
    _write(lambda pipeline: (pipeline.hincrby(key, _field(task, namespace, status), 1), pipeline.expire(key, _ttl_s())))
    instruments.job_finished(task, status)


def record_batch(engine: str, size: int, engine_ms: float) -> None:
    """Count one engine call carrying ``size`` items that took ``engine_ms`` milliseconds."""
    bucket = _bucket(clock())
    key, max_key = _key("batch", bucket), _key("batch_max", bucket)
    engine = str(engine)

    def commands(pipeline) -> None:
        pipeline.hincrby(key, _field(engine, "batches"), 1)
        pipeline.hincrby(key, _field(engine, "items"), int(size))
        pipeline.hincrbyfloat(key, _field(engine, "engine_ms"), float(engine_ms))
        # GT keeps the largest size seen in the bucket (Redis 6.2 and later).
        pipeline.zadd(max_key, {engine: int(size)}, gt=True)
        pipeline.expire(key, _ttl_s())
        pipeline.expire(max_key, _ttl_s())

    _write(commands)
    instruments.batch_sent(engine, size, engine_ms)


def record_rejection(kind: str, namespace: str | None) -> None:
    """Count one rejected request, e.g. kind ``queue_full``, ``rate_limited`` or ``inference_redis_full``."""
    key = _key("rejection", _bucket(clock()))
    field = _field(kind, namespace or "")
    _write(lambda pipeline: (pipeline.hincrby(key, field, 1), pipeline.expire(key, _ttl_s())))
    instruments.request_rejected(kind, namespace)


def record_queue_depths(depths: dict[str, int]) -> None:
    """Store queue depths per task as the current bucket's sample; a later sample in the bucket replaces it."""
    if not depths:
        return
    key = _key("depth", _bucket(clock()))
    mapping = {_field(task): int(depth) for task, depth in depths.items()}
    _write(lambda pipeline: (pipeline.hset(key, mapping=mapping), pipeline.expire(key, _ttl_s())))


def _write(commands) -> None:
    global _last_write_warning, _failed_writes
    pipeline = inference_redis().pipeline(transaction=False)
    commands(pipeline)
    try:
        pipeline.execute()
    except redis.exceptions.RedisError as exc:
        _failed_writes += 1
        now = time.monotonic()
        if now - _last_write_warning >= _WRITE_WARNING_INTERVAL_S:
            logger.warning("Could not write inference counters (%d failed writes so far): %s", _failed_writes, exc)
            _last_write_warning = now


# --- readers -------------------------------------------------------------------------


def _window(window_s: float, now: float) -> tuple[list[int], float]:
    """Return the buckets that overlap the last ``window_s`` seconds, and the seconds they cover up to now.

    The oldest bucket is left out when it starts before the window, so the covered time
    is between ``window_s - BUCKET_S`` and ``window_s``, never a guessed share of a bucket.
    """
    if window_s < BUCKET_S:
        raise ValueError(f"window_s must be at least {BUCKET_S} s, got {window_s}")
    first = _bucket(now - window_s) + 1
    last = _bucket(now)
    return list(range(first, last + 1)), now - first * BUCKET_S


def _read_hashes(kind: str, buckets: list[int]) -> list[dict[tuple, float]]:
    pipeline = inference_redis().pipeline(transaction=False)
    for bucket in buckets:
        pipeline.hgetall(_key(kind, bucket))
    return [{_parse_field(field): float(value) for field, value in fields.items()} for fields in pipeline.execute()]


# The same few fields recur in every bucket, and parsing them dominated the time of a
# 60-minute series (720 buckets).
@functools.lru_cache(maxsize=4096)
def _parse_field(field: bytes) -> tuple:
    return tuple(json.loads(field))


def _summed(kind: str, buckets: list[int]) -> dict[tuple, float]:
    totals: dict[tuple, float] = defaultdict(float)
    for counts in _read_hashes(kind, buckets):
        for field, value in counts.items():
            totals[field] += value
    return totals


def drain_rate(task: str, window_s: float = 60) -> float:
    """Return the jobs of ``task`` that reached a final status per second, over the last ``window_s`` seconds."""
    buckets, covered_s = _window(window_s, clock())
    finished = sum(count for (name, _namespace, _status), count in _summed("outcome", buckets).items() if name == task)
    return finished / covered_s


def rates(window_s: float = 60) -> dict:
    """Return final job statuses per second over the last ``window_s`` seconds, per task and per namespace.

    Shape: ``{"tasks": {task: {status: rate}}, "namespaces": {task: {namespace: {status: rate}}}}``;
    only statuses that occurred appear.
    """
    buckets, covered_s = _window(window_s, clock())
    tasks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    namespaces: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for (task, namespace, status), count in _summed("outcome", buckets).items():
        tasks[task][status] += count / covered_s
        namespaces[task][namespace][status] += count / covered_s
    return {"tasks": _plain(tasks), "namespaces": _plain(namespaces)}


def batch_sizes(window_s: float = 60) -> dict[str, dict]:
    """Summarize the engine calls of each engine over the last ``window_s`` seconds.

    Per engine: ``batches`` (calls), ``items``, ``mean_size``, ``max_size`` and
    ``mean_engine_ms`` (mean duration of one call).
    """
    buckets, _covered_s = _window(window_s, clock())
    totals = _summed("batch", buckets)
    pipeline = inference_redis().pipeline(transaction=False)
    for bucket in buckets:
        pipeline.zrange(_key("batch_max", bucket), 0, -1, withscores=True)
    largest: dict[str, int] = defaultdict(int)
    for members in pipeline.execute():
        for engine, size in members:
            largest[engine.decode()] = max(largest[engine.decode()], int(size))

    engines = sorted({engine for engine, _name in totals})
    result = {}
    for engine in engines:
        batches = totals.get((engine, "batches"), 0.0)
        items = totals.get((engine, "items"), 0.0)
        result[engine] = {
            "batches": int(batches),
            "items": int(items),
            "mean_size": round(items / batches, 2) if batches else 0.0,
            "max_size": largest[engine],
            "mean_engine_ms": round(totals.get((engine, "engine_ms"), 0.0) / batches, 1) if batches else 0.0,
        }
    return result


def rejections(window_s: float = 60) -> dict[str, dict[str, float]]:
    """Return rejected requests per second over the last ``window_s`` seconds: ``{kind: {namespace: rate}}``."""
    buckets, covered_s = _window(window_s, clock())
    result: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (kind, namespace), count in _summed("rejection", buckets).items():
        result[kind][namespace] += count / covered_s
    return _plain(result)


def series(minutes: int = 10) -> dict:
    """Return one value per bucket of the last ``minutes`` minutes, for charts.

    ``t`` contains each bucket's start as a Unix time, and every other list has one entry
    per bucket. ``throughput`` is ``{task: {status: [rate, ...]}}``, and the other series
    are keyed by task (``queue_depth``), engine (``batch_size``) or kind (``rejections``).
    Rates are per second. Batch sizes and queue depths are ``None`` in buckets without a
    batch or without a depth sample. Counts of the last bucket, which is still filling,
    are ``None`` too, so that a partial count does not show as a drop. Its depth sample
    is complete and is shown.
    """
    now = clock()
    current = _bucket(now)
    buckets = list(range(current - minutes * 60 // BUCKET_S + 1, current + 1))
    finished = buckets[:-1]
    outcomes = _read_hashes("outcome", finished)
    batches = _read_hashes("batch", finished)
    rejected = _read_hashes("rejection", finished)
    depths = _read_hashes("depth", buckets)

    throughput_names = sorted({(task, status) for counts in outcomes for task, _ns, status in counts})
    engine_names = sorted({engine for counts in batches for engine, _name in counts})
    kind_names = sorted({kind for counts in rejected for kind, _ns in counts})
    task_names = sorted({task for samples in depths for (task,) in samples})

    def per_second(counts_per_bucket, select) -> list[float | None]:
        totals = [sum(value for field, value in counts.items() if select(field)) for counts in counts_per_bucket]
        return [round(total / BUCKET_S, 3) for total in totals] + [None]

    def mean_sizes(engine: str) -> list[float | None]:
        sizes = []
        for counts in batches:
            calls = counts.get((engine, "batches"))
            sizes.append(round(counts[(engine, "items")] / calls, 2) if calls else None)
        return [*sizes, None]

    return {
        "bucket_s": BUCKET_S,
        "t": [bucket * BUCKET_S for bucket in buckets],
        "queue_depth": {
            task: [int(samples[(task,)]) if (task,) in samples else None for samples in depths] for task in task_names
        },
        "throughput": {
            task: {
                status: per_second(outcomes, lambda field, t=task, s=status: field[0] == t and field[2] == s)
                for name, status in throughput_names
                if name == task
            }
            for task in sorted({task for task, _status in throughput_names})
        },
        "batch_size": {engine: mean_sizes(engine) for engine in engine_names},
        "rejections": {kind: per_second(rejected, lambda field, k=kind: field[0] == k) for kind in kind_names},
    }


def _plain(value):
    # defaultdicts become dicts, so callers and JSON see no default factories.
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
