"""Inference jobs and their outbox in the inference Redis.

A job is one hash, ``redgx:job:{req_id}``, written before the submit returns 202
and updated by the worker: status, timestamps, attempts, and at the end the result
or the error. The hash expires REDGX_JOB_TTL_S after submission, and
REDGX_RESULT_TTL_S after it reaches a final status.

A job's error keeps, beside its English message, the message template and the values that
fill it, so that ``readable_error`` can show the message in the reader's language.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.utils.translation import gettext
from redis.commands.core import Script

from apps.core.redis import inference_redis
from apps.pubsub.events import publish_job_event

logger = logging.getLogger(__name__)


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


FINAL_STATUSES = {JobStatus.DONE, JobStatus.FAILED}

# Sets a final status only once: a message delivered twice (a worker killed after
# storing the result but before acknowledging) must not overwrite the outcome.
# Returns 0, or the job's namespace and task when it wrote the status.
_FINISH_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'done' or status == 'failed' then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HMGET', KEYS[1], 'namespace', 'task')
"""

# Updates a job only if it exists and is not final, so a late retry cannot resurrect
# an expired job or undo an outcome.
_UPDATE_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'done' or status == 'failed' then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


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


def job_key(req_id: str) -> str:
    return f"redgx:job:{req_id}"


def new_req_id() -> str:
    return uuid.uuid4().hex


def is_valid_req_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def create_job(namespace: str, task: str, payload: dict) -> str:
    req_id = new_req_id()
    key = job_key(req_id)
    pipeline = inference_redis().pipeline(transaction=True)
    pipeline.hset(
        key,
        mapping={
            "namespace": namespace,
            "task": task,
            "status": JobStatus.QUEUED,
            "payload": json.dumps(payload, ensure_ascii=False),
            "created_at": repr(time.time()),
            "attempts": 0,
        },
    )
    pipeline.expire(key, settings.REDGX_JOB_TTL_S)
    pipeline.execute()
    return req_id


def delete_job(req_id: str) -> None:
    inference_redis().delete(job_key(req_id))


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
    )


def mark_processing(req_id: str, attempt: int) -> bool:
    """Record that a worker took the job; False if it is gone or already final."""
    fields = {"status": JobStatus.PROCESSING, "attempts": attempt}
    if attempt == 1:
        fields["started_at"] = repr(time.time())
    return bool(_run(_UPDATE_SCRIPT, req_id, [], fields))


def mark_retrying(req_id: str, code: str, template: str, params: dict | None = None) -> None:
    """Put the job back to queued with the reason of the failed attempt."""
    error = json.dumps(_error(code, template, params))
    _run(_UPDATE_SCRIPT, req_id, [], {"status": JobStatus.QUEUED, "last_error": error})


def complete_job(req_id: str, result: dict) -> bool:
    return _finish(req_id, {"status": JobStatus.DONE, "result": json.dumps(result, separators=(",", ":"))})


def fail_job(req_id: str, code: str, template: str, params: dict | None = None) -> bool:
    """Set the job failed; ``template`` is an English message marked with gettext_noop."""
    return _finish(req_id, {"status": JobStatus.FAILED, "error": json.dumps(_error(code, template, params))})


def last_error(req_id: str) -> dict | None:
    raw = inference_redis().hget(job_key(req_id), "last_error")
    return json.loads(raw) if raw else None


def _finish(req_id: str, fields: dict) -> bool:
    fields = {**fields, "finished_at": repr(time.time())}
    written = _run(_FINISH_SCRIPT, req_id, [settings.REDGX_RESULT_TTL_S], fields)
    if not written:
        return False
    # Subscribers of the namespace's job events learn of the outcome without polling.
    namespace, task = (value.decode() for value in written)
    # The event goes to every subscriber at once, so its message is in the default language.
    error = readable_error(json.loads(fields["error"])) if "error" in fields else None
    publish_job_event(namespace, req_id, task, fields["status"], error)
    return True


_scripts: dict[str, Script] = {}


def _run(script: str, req_id: str, leading_args: list, fields: dict) -> int:
    # Script objects call EVALSHA and load the script only when Redis lacks it.
    if script not in _scripts:
        _scripts[script] = inference_redis().register_script(script)
    flat = [item for pair in fields.items() for item in pair]
    return _scripts[script](keys=[job_key(req_id)], args=[*leading_args, *flat])


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
