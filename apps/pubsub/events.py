"""Job status events on the reserved channel ``$jobs`` of each namespace.

The worker publishes one event when it writes a job's final status (``done`` or ``failed``).
Redis pub/sub keeps nothing, so a client that was not subscribed at that moment, or whose
connection was interrupted, learns the outcome by polling the job's status URL.
"""

import json
import logging

import redis.exceptions

from apps.core.redis import publish_data_message

from .names import JOB_EVENTS_CHANNEL, redis_channel

logger = logging.getLogger(__name__)


def publish_job_event(namespace: str, req_id: str, task: str, status: str, error: dict | None = None) -> None:
    """Publish ``{"req_id", "task", "status"[, "error"]}``; a Redis failure is logged, not raised."""
    event = {"req_id": req_id, "task": task, "status": status}
    if error is not None:
        event["error"] = error
    try:
        publish_data_message(
            redis_channel(namespace, JOB_EVENTS_CHANNEL), json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        )
    except redis.exceptions.RedisError as exc:
        logger.warning("Could not publish the %s event of job %s: %s", status, req_id, exc)
