"""Inference jobs and their outbox in the inference Redis.

A job is one hash, ``redgx:job:{req_id}``, written and queued (queues.py) before the
submit returns 202, and updated by the worker: status, timestamps, attempts, deliveries,
timings, and at the end the result or the error. The hash expires REDGX_JOB_TTL_S after
submission, and REDGX_RESULT_TTL_S after it reaches a final status.

A job's error keeps, beside its English message, the message template and the values that
fill it, so that ``readable_error`` can show the message in the reader's language.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from apps.core.redis import inference_redis
from apps.pubsub.events import publish_job_event

from . import queues, stats
from .broker import send_wakeup

logger = logging.getLogger(__name__)


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


FINAL_STATUSES = {JobStatus.DONE, JobStatus.FAILED}

CANCELLED_MESSAGE = gettext_noop("The request was cancelled.")
EXPIRED_MESSAGE = gettext_noop("The request passed its deadline before an engine could run it.")
DELIVERY_LIMIT_MESSAGE = gettext_noop(
    "The request stopped %(count)d workers before they could finish it, so it will not run again."
)


@dataclass(frozen=True)
class Job:
    req_id: str
    namespace: str
    task: str
    status: JobStatus
    payload: dict
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    result: dict | None
    error: dict | None
    expires_at: float | None
    deadline_at: float | None = None
    # Times a worker took the job; more than attempts when a worker died holding it.
    deliveries: int = 0
    # Timing of the last delivery in milliseconds: submit to take, take to engine call,
    # and the engine call itself. None until the worker records them.
    queued_ms: float | None = None
    batch_wait_ms: float | None = None
    engine_ms: float | None = None


def job_key(req_id: str) -> str:
    return queues.job_key(req_id)


def new_req_id() -> str:
    return uuid.uuid4().hex


def is_valid_req_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def create_job(
    namespace: str,
    task: str,
    payload: dict,
    *,
    req_id: str | None = None,
    deadline_at: float | None = None,
    limits: queues.QueueLimits = queues.NO_LIMITS,
) -> str:
    """Store and queue a job, then wake a worker; return its req_id.

    Raises queues.QueueFullError, storing nothing, when one of ``limits`` is reached, and
    redis.exceptions.RedisError when the job could not be stored. A failed wake-up is only
    logged: the job is queued, and the sweeper tops up wake-ups for queued jobs.
    """
    req_id = req_id or new_req_id()
    now = time.time()
    if deadline_at is None:
        deadline_at = now + settings.REDGX_JOB_DEFAULT_DEADLINE_S
    fields = {
        "namespace": namespace,
        "task": task,
        "status": JobStatus.QUEUED,
        "payload": json.dumps(payload, ensure_ascii=False),
        "created_at": repr(now),
        "deadline_at": repr(deadline_at),
        "attempts": 0,
        "retries": 0,
        "deliveries": 0,
    }
    queues.enqueue(req_id, namespace, task, settings.REDGX_JOB_TTL_S, deadline_at, fields, limits)
    try:
        send_wakeup(task)
    except redis.exceptions.RedisError as exc:
        logger.warning("Job %s is queued but its wake-up failed; the sweeper will send one: %s", req_id, exc)
    return req_id


def get_job(req_id: str) -> Job | None:
    pipeline = inference_redis().pipeline(transaction=False)
    pipeline.hgetall(job_key(req_id))
    pipeline.pexpiretime(job_key(req_id))
    fields, expire_ms = pipeline.execute()
    if not fields:
        return None
    fields = {name.decode(): value.decode() for name, value in fields.items()}
    return Job(
        req_id=req_id,
        namespace=fields["namespace"],
        task=fields["task"],
        status=JobStatus(fields["status"]),
        payload=json.loads(fields["payload"]),
        created_at=float(fields["created_at"]),
        started_at=_float_or_none(fields.get("started_at")),
        finished_at=_float_or_none(fields.get("finished_at")),
        attempts=int(fields.get("attempts", 0)),
        result=json.loads(fields["result"]) if "result" in fields else None,
        error=json.loads(fields["error"]) if "error" in fields else None,
        expires_at=expire_ms / 1000 if expire_ms and expire_ms > 0 else None,
        deadline_at=_float_or_none(fields.get("deadline_at")),
        deliveries=int(fields.get("deliveries", 0)),
        queued_ms=_float_or_none(fields.get("queued_ms")),
        batch_wait_ms=_float_or_none(fields.get("batch_wait_ms")),
        engine_ms=_float_or_none(fields.get("engine_ms")),
    )


def complete_job(req_id: str, result: dict, *, token: str | None = None, timings: dict | None = None) -> bool:
    """Store the result once; with ``token``, only while the job is still leased under it."""
    fields = {"status": JobStatus.DONE, "result": json.dumps(result, separators=(",", ":")), **(timings or {})}
    return _finish(req_id, token, fields)


def fail_job(
    req_id: str,
    code: str,
    template: str,
    params: dict | None = None,
    *,
    token: str | None = None,
    timings: dict | None = None,
) -> bool:
    """Set the job failed; ``template`` is an English message marked with gettext_noop.

    Without ``token`` this is the system's decision (cancel, deadline, delivery limit) and
    wins over any attempt in flight; with it, only the current lease holder may fail the job.
    """
    fields = {"status": JobStatus.FAILED, "error": json.dumps(_error(code, template, params)), **(timings or {})}
    return _finish(req_id, token, fields)


def cancel_job(req_id: str, *, drop_result: bool = True) -> str | None:
    """Cancel a job: "cancelled" if it was queued or processing, "dropped" if its result
    was deleted, "final" if it had finished and ``drop_result`` is false, None if unknown.

    A processing job's lease token is cleared, so its in-flight result is discarded and a
    batch that has not left yet skips it.
    """
    if fail_job(req_id, "cancelled", CANCELLED_MESSAGE):
        return "cancelled"
    if not inference_redis().exists(job_key(req_id)):
        return None
    if not drop_result:
        return "final"
    inference_redis().delete(job_key(req_id))
    return "dropped"


def last_error(req_id: str) -> dict | None:
    raw = inference_redis().hget(job_key(req_id), "last_error")
    return json.loads(raw) if raw else None


def _finish(req_id: str, token: str | None, fields: dict) -> bool:
    fields = {**fields, "finished_at": repr(time.time())}
    written = queues.finish(req_id, token, settings.REDGX_RESULT_TTL_S, fields)
    if written is None:
        return False
    namespace, task = written
    # The event goes to every subscriber at once, so its message is in the default language.
    error = readable_error(json.loads(fields["error"])) if "error" in fields else None
    publish_job_event(namespace, req_id, task, fields["status"], error)
    # stats logs a Redis error and returns, so a lost counter never fails the job.
    stats.record_outcome(task, namespace, fields["status"])
    return True


def _error(code: str, template: str, params: dict | None) -> dict:
    params = params or {}
    return {"code": code, "message": render_message(template, params), "template": template, "params": params}


def render_message(template: str, params: dict, translate=str) -> str:
    """Fill a message template; a value that is itself ``{"template", "params"}`` is rendered first.

    With the default ``translate`` the result is English; pass ``gettext`` for the active language.
    """
    values = {
        name: render_message(value["template"], value["params"], translate) if isinstance(value, dict) else value
        for name, value in params.items()
    }
    return translate(template) % values


def readable_error(error: dict) -> dict:
    """Return a stored job error as clients get it: the code and the message in the active language."""
    if "template" not in error:
        return {"code": error["code"], "message": error["message"]}
    try:
        message = render_message(error["template"], error["params"], gettext)
    except (KeyError, TypeError, ValueError) as exc:
        # The stored English message was rendered from the same values, so it is still right.
        logger.warning("Job error template %r does not fit its values: %s", error["template"], exc)
        message = error["message"]
    return {"code": error["code"], "message": message}


def _float_or_none(value: str | None) -> float | None:
    return float(value) if value else None
