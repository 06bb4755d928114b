"""Queue and engine state for the metrics snapshot, read from the inference broker's Redis keys."""

import time

from apps.core.redis import inference_redis
from apps.inference import queues
from apps.inference.circuit import circuit_key


def queue_snapshot(task: str) -> dict:
    """Return a task's queued jobs: ``depth``, ``namespaces`` ({namespace: waiting}) and ``oldest_age_s``.

    ``depth`` includes jobs in retry backoff. The per-namespace counts and the oldest age
    cover jobs waiting to be taken, because a job in backoff is on no namespace's list
    until its retry is due. ``oldest_age_s`` is None when none is waiting.
    """
    client = inference_redis()
    depth = queues.queue_depth(task)
    namespaces = [name.decode() for name in client.lrange(queues.ring_key(task), 0, -1)]

    pipeline = client.pipeline(transaction=False)
    for namespace in namespaces:
        pipeline.llen(queues.queue_key(task, namespace))
        # Each list is oldest first, and a job put back after a lost lease goes to the head.
        pipeline.lindex(queues.queue_key(task, namespace), 0)
    replies = pipeline.execute()
    waiting = {namespace: int(count) for namespace, count in zip(namespaces, replies[0::2], strict=True) if count}
    heads = [req_id.decode() for req_id in replies[1::2] if req_id]

    pipeline = client.pipeline(transaction=False)
    for req_id in heads:
        pipeline.hget(queues.job_key(req_id), "created_at")
    created = [float(value) for value in pipeline.execute() if value]
    oldest_age_s = round(max(0.0, time.time() - min(created)), 1) if created else None
    return {"depth": depth, "namespaces": waiting, "oldest_age_s": oldest_age_s}


def circuit_snapshot(engine_name: str) -> dict:
    """Return an engine's circuit breaker: ``state`` (``open`` or ``closed``) and ``failures`` in a row."""
    fields = inference_redis().hgetall(circuit_key(engine_name))
    return {
        "state": "open" if fields.get(b"open") == b"1" else "closed",
        "failures": int(fields.get(b"failures", 0)),
    }
