"""Inference routes: submit under /gpu/{task}; status, long-poll and cancel under /gpu/{task}/{req_id}."""

import json
import logging
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from apps.api.errors import Gone, ResourceNotFound, ServiceUnavailable
from apps.api.operations import OperationViewSet, operation
from apps.core.redis import blocking_data_redis
from apps.data.views import blocking_slot
from apps.pubsub.names import JOB_EVENTS_CHANNEL, redis_channel
from apps.tenancy.permissions import Permission

from . import admission, idempotency, jobs, queues, reqids
from .taskspecs import TASKS, TaskSpec

logger = logging.getLogger(__name__)

# Tasks whose inputs are files: their submit also takes multipart/form-data, and their
# body may be as large as the file limit (setting name) instead of REDGX_MAX_BODY_BYTES.
UPLOAD_TASKS = {"stt": "REDGX_STT_MAX_AUDIO_BYTES", "ocr": "REDGX_OCR_MAX_DOCUMENT_BYTES"}
# Room for the multipart boundaries, part headers and the small form fields beside the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
_UPLOAD_PATH = re.compile(r"^/api/v1/ns/[^/]+/gpu/(?P<task>[a-z_]+)$")
_DEADLINE_TEXT = re.compile(r"\d{1,10}\Z")
_WAIT_TEXT = re.compile(r"\d{1,6}(\.\d{1,6})?\Z")


def upload_body_limit(path: str) -> int | None:
    """Return the body size limit of a multipart submit to ``path``, or None for other paths."""
    match = _UPLOAD_PATH.match(path)
    if match is None or match["task"] not in UPLOAD_TASKS:
        return None
    file_limit = getattr(settings, UPLOAD_TASKS[match["task"]])
    return max(settings.REDGX_MAX_BODY_BYTES, file_limit + MULTIPART_OVERHEAD_BYTES)


def task_spec(name: str) -> TaskSpec:
    if name not in TASKS:
        raise ResourceNotFound(
            _("Unknown task '%(task)s'. Available: %(tasks)s.") % {"task": name, "tasks": ", ".join(sorted(TASKS))},
            code="unknown_task",
        )
    return TASKS[name]


class InferenceViewSet(OperationViewSet):
    def get_parsers(self):
        parsers = super().get_parsers()
        if self.kwargs.get("task") in UPLOAD_TASKS:
            parsers += [MultiPartParser(), FormParser()]
        return parsers

    @operation("POST", "submit", Permission.WRITE, default=True)
    def submit(self, request, namespace: str, task: str) -> Response:
        spec = task_spec(task)
        idempotency_key = idempotency.parse_key(request.headers.get(idempotency.HEADER))
        body, deadline_s = split_deadline(request.data)
        serializer = spec.serializer(data=body)
        serializer.is_valid(raise_exception=True)
        payload = dict(serializer.validated_data)

        req_id = reqids.new_req_id(namespace, task)
        if idempotency_key is None:
            self._enqueue(request, namespace, task, payload, req_id, deadline_s)
            return accepted_response(request, namespace, task, req_id)

        storage = idempotency.storage_key(namespace, request.auth.prefix, idempotency_key)
        fingerprint = idempotency.fingerprint(task, payload, deadline_s)
        earlier = idempotency.claim(storage, fingerprint, req_id)
        if earlier is not None:
            return accepted_response(request, namespace, task, earlier.req_id, replayed=True)
        try:
            self._enqueue(request, namespace, task, payload, req_id, deadline_s)
        except BaseException:
            release_claim(storage, fingerprint, req_id)
            raise
        try:
            idempotency.accept(storage, fingerprint, req_id)
        except redis.exceptions.RedisError as exc:
            # The job is queued, so the client still gets 202. A retry with this key within
            # idempotency.PENDING_TTL_S gets 409, and a later one queues a second job.
            logger.warning("Could not store the idempotency claim of job %s: %s", req_id, exc)
        return accepted_response(request, namespace, task, req_id)

    @staticmethod
    def _enqueue(request, namespace: str, task: str, payload: dict, req_id: str, deadline_s: int | None) -> None:
        admission.check_memory(namespace)
        limits = admission.queue_limits(getattr(request.auth, "quota", None))
        deadline_at = time.time() + deadline_s if deadline_s is not None else None
        try:
            jobs.create_job(namespace, task, payload, req_id=req_id, deadline_at=deadline_at, limits=limits)
        except queues.QueueFullError as full:
            admission.reject_queue_full(task, namespace, full.depth, full.limit)
        except redis.exceptions.RedisError as exc:
            logger.warning("Could not queue job %s of task %s: %s", req_id, task, exc)
            raise ServiceUnavailable(_("Could not queue the request. Retry later."), code="queue_unavailable") from exc


def split_deadline(data) -> tuple[dict, int | None]:
    """Separate ``deadline_s`` from the task's fields and validate it.

    A JSON body must give an integer; a form body gives text, so digits are accepted there.
    """
    if not isinstance(data, Mapping):
        # Not an object: the task's serializer rejects it with its usual message.
        return data, None
    body = {name: data[name] for name in data}
    if "deadline_s" not in body:
        return body, None
    value = body.pop("deadline_s")
    if _is_form(data) and isinstance(value, str) and _DEADLINE_TEXT.match(value):
        value = int(value)
    limit = settings.REDGX_JOB_MAX_DEADLINE_S
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        message = _("Must be a whole number of seconds from 1 to %(limit)d.") % {"limit": limit}
        raise ValidationError({"deadline_s": [message]})
    return body, value


def _is_form(data) -> bool:
    # DRF's form and multipart parsers return a QueryDict, the JSON parser a plain dict.
    return hasattr(data, "getlist")


def release_claim(storage: str, fingerprint: str, req_id: str) -> None:
    try:
        idempotency.release(storage, fingerprint, req_id)
    except redis.exceptions.RedisError as exc:
        # The claim then expires after idempotency.PENDING_TTL_S.
        logger.warning("Could not release the idempotency claim of job %s: %s", req_id, exc)


def accepted_response(request, namespace: str, task: str, req_id: str, *, replayed: bool = False) -> Response:
    headers = {"Location": request.build_absolute_uri(f"/api/v1/ns/{namespace}/gpu/{task}/{req_id}")}
    if replayed:
        headers[idempotency.REPLAY_HEADER] = "true"
    return Response(
        {"req_id": req_id, "status": jobs.JobStatus.QUEUED}, status=status.HTTP_202_ACCEPTED, headers=headers
    )


def iso_time(timestamp: float | None) -> str | None:
    """Format a Unix time as ISO 8601 in UTC with milliseconds."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobViewSet(OperationViewSet):
    @operation("GET", "status", Permission.READ, default=True)
    def status(self, request, namespace: str, task: str, req_id: str) -> Response:
        wait_s = parse_wait(request.query_params.get("wait"))
        job = find_job(namespace, task, req_id)
        if wait_s > 0 and job.status not in jobs.FINAL_STATUSES:
            wait_until_final(namespace, req_id, wait_s)
            job = find_job(namespace, task, req_id)
        return Response(job_body(job))

    @operation("DELETE", "cancel", Permission.WRITE, default=True)
    def cancel(self, request, namespace: str, task: str, req_id: str) -> Response:
        find_job(namespace, task, req_id)
        outcome = jobs.cancel_job(req_id)
        if outcome is None:
            raise result_expired()
        body = {"req_id": req_id, "outcome": outcome}
        job = jobs.get_job(req_id)
        body["status"] = job.status if job is not None else None
        return Response(body)


def find_job(namespace: str, task: str, req_id: str) -> jobs.Job:
    """Return the job, or raise 410 when its id was minted here but the job is gone, else 404."""
    job = jobs.get_job(req_id) if reqids.is_well_formed(req_id) else None
    if job is not None and job.namespace == namespace and job.task == task:
        return job
    if job is None and reqids.was_issued_for(req_id, namespace, task):
        raise result_expired()
    raise ResourceNotFound(_("No request with this id in this namespace and task."), code="request_not_found")


def result_expired() -> Gone:
    return Gone(
        _("This request existed, but its result has expired or was deleted. Submit it again."),
        code="result_expired",
    )


def parse_wait(text: str | None) -> float:
    """Return the seconds a status request may wait for the final status, capped at REDGX_MAX_WAIT_S."""
    if text is None:
        return 0.0
    if not _WAIT_TEXT.match(text):
        message = _("Must be a number of seconds from 0 to %(limit)d.") % {"limit": settings.REDGX_MAX_WAIT_S}
        raise ValidationError({"wait": [message]})
    return min(float(text), settings.REDGX_MAX_WAIT_S)


def wait_until_final(namespace: str, req_id: str, wait_s: float) -> None:
    """Block until the job's final-status event arrives or ``wait_s`` passes.

    The worker publishes the event on the namespace's ``$jobs`` channel when it writes the
    final status. The job is read again after subscribing, so an event published between
    the first read and the subscription is not missed.
    """
    deadline = time.monotonic() + wait_s
    with blocking_slot():
        pubsub = blocking_data_redis().pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(redis_channel(namespace, JOB_EVENTS_CHANNEL))
            job = jobs.get_job(req_id)
            if job is None or job.status in jobs.FINAL_STATUSES:
                return
            while (remaining := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=remaining)
                if message is not None and _event_req_id(message) == req_id:
                    return
        finally:
            pubsub.close()


def _event_req_id(message: dict) -> str | None:
    try:
        return json.loads(message["data"]).get("req_id")
    except (TypeError, ValueError, AttributeError):
        return None


def job_body(job: jobs.Job) -> dict:
    body = {
        "req_id": job.req_id,
        "task": job.task,
        "status": job.status,
        "attempts": job.attempts,
        "deliveries": job.deliveries,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "expires_at": iso_time(job.expires_at),
        "deadline_at": iso_time(job.deadline_at),
        "timing": {
            "queued_ms": _milliseconds(job.queued_ms),
            "batch_wait_ms": _milliseconds(job.batch_wait_ms),
            "engine_ms": _milliseconds(job.engine_ms),
            "total_ms": _milliseconds((job.finished_at - job.created_at) * 1000) if job.finished_at else None,
        },
    }
    if job.result is not None:
        body.update(job.result)
    if job.error is not None:
        body["error"] = jobs.readable_error(job.error)
    return body


def _milliseconds(value: float | None) -> int | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value)
