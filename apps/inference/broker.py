"""The Dramatiq broker on the inference Redis, shared by web (to send) and worker (to run).

Dramatiq messages carry no job: each one wakes a worker thread, which takes the next job
from the fair queues in apps/inference/queues.py. Retries, leases and delivery counts
live in those queues, so Dramatiq's Retries middleware is left out.
"""

import dramatiq
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Callbacks, CurrentMessage, ShutdownNotifications

from apps.core.redis import inference_redis


def setup_broker() -> RedisBroker:
    broker = RedisBroker(
        client=inference_redis(),
        namespace=settings.REDGX_DRAMATIQ_NAMESPACE,
        heartbeat_timeout=settings.REDGX_WORKER_HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=settings.REDGX_BROKER_MAINTENANCE_CHANCE,
        middleware=[ShutdownNotifications(), Callbacks(), CurrentMessage()],
    )
    dramatiq.set_broker(broker)
    return broker


def queued_message_count(queue_name: str) -> int:
    """Messages sent to a queue and not yet acknowledged, including delayed ones."""
    prefix = f"{settings.REDGX_DRAMATIQ_NAMESPACE}:{queue_name}"
    pipeline = inference_redis().pipeline(transaction=False)
    pipeline.hlen(f"{prefix}.msgs")
    pipeline.hlen(f"{prefix}.DQ.msgs")
    return sum(pipeline.execute())


def wakeup_actor_name(task: str) -> str:
    return f"run_{task}"


def send_wakeup(task: str, *, delay_ms: int | None = None) -> None:
    """Send one wake-up to the task's actor: some worker thread then takes one job.

    Raises redis.exceptions.RedisError when the inference Redis is unreachable.
    """
    message = dramatiq.Message(queue_name=task, actor_name=wakeup_actor_name(task), args=(), kwargs={}, options={})
    dramatiq.get_broker().enqueue(message, delay=delay_ms)
