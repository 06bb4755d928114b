"""Inference routes: submit under /gpu/{task}, poll under /gpu/{task}/{req_id}."""

import logging
from datetime import UTC, datetime

import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response

from apps.api.errors import QueueFull, ResourceNotFound, ServiceUnavailable
from apps.api.operations import OperationViewSet, operation
from apps.tenancy.permissions import Permission

from . import jobs
from .broker import queued_message_count
from .serializers import EmbedRequestSerializer
from .tasks import run_embed

logger = logging.getLogger(__name__)

# task name -> (request serializer, actor)
TASKS = {"embed": (EmbedRequestSerializer, run_embed)}


class InferenceViewSet(OperationViewSet):
    def task(self):
        name = self.kwargs["task"]
        if name not in TASKS:
            raise ResourceNotFound(
                _("Unknown task '%(task)s'. Available: %(tasks)s.") % {"task": name, "tasks": ", ".join(TASKS)},
                code="unknown_task",
            )
        return TASKS[name]

    @operation("POST", "submit", Permission.WRITE, default=True)
    def submit(self, request, namespace: str, task: str) -> Response:
        serializer_class, actor = self.task()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)

        if queued_message_count(actor.queue_name) >= settings.REDGX_MAX_QUEUED_JOBS:
            raise QueueFull(retry_after=settings.REDGX_QUEUE_FULL_RETRY_AFTER_S)

        req_id = jobs.create_job(namespace, task, serializer.validated_data)
        try:
            actor.send(req_id)
        except redis.exceptions.RedisError as exc:
            logger.warning("Could not enqueue job %s: %s", req_id, exc)
            # NOTE: if this delete fails too, the job hash stays "queued" until REDGX_JOB_TTL_S.
            jobs.delete_job(req_id)
            raise ServiceUnavailable(_("Could not queue the request. Retry later."), code="queue_unavailable") from exc

        location = request.build_absolute_uri(f"/api/v1/ns/{namespace}/gpu/{task}/{req_id}")
        return Response(
            {"req_id": req_id, "status": jobs.JobStatus.QUEUED},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


def iso_time(timestamp: float | None) -> str | None:
    """Format a Unix time as ISO 8601 in UTC with milliseconds."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobViewSet(OperationViewSet):
    @operation("GET", "status", Permission.READ, default=True)
    def status(self, request, namespace: str, task: str, req_id: str) -> Response:
        job = jobs.get_job(req_id) if jobs.is_valid_req_id(req_id) else None
        if job is None or job.namespace != namespace or job.task != task:
            raise ResourceNotFound(
                _("No such request in this namespace, or its result has expired."), code="request_not_found"
            )
        body = {
            "req_id": job.req_id,
            "task": job.task,
            "status": job.status,
            "attempts": job.attempts,
            "created_at": iso_time(job.created_at),
            "started_at": iso_time(job.started_at),
            "finished_at": iso_time(job.finished_at),
            "expires_at": iso_time(job.expires_at),
        }
        if job.result is not None:
            body.update(job.result)
        if job.error is not None:
            body["error"] = jobs.readable_error(job.error)
        return Response(body)
