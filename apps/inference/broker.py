"""The Dramatiq broker on the inference Redis, shared by web (to send) and worker (to run)."""

import dramatiq
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Retries, ShutdownNotifications, TimeLimit

from apps.core.redis import inference_redis


def setup_broker() -> RedisBroker:
    broker = RedisBroker(
        client=inference_redis(),
        namespace=settings.REDGX_DRAMATIQ_NAMESPACE,
        heartbeat_timeout=settings.REDGX_WORKER_HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=settings.REDGX_BROKER_MAINTENANCE_CHANCE,
        middleware=[
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            CurrentMessage(),
            Retries(
                max_retries=settings.REDGX_JOB_MAX_RETRIES,
                min_backoff=settings.REDGX_JOB_MIN_BACKOFF_MS,
                max_backoff=settings.REDGX_JOB_MAX_BACKOFF_MS,
            ),
        ],
    )
    dramatiq.set_broker(broker)
    return broker


def queued_message_count(queue_name: str) -> int:
    """Messages sent to a queue and not yet acknowledged, including delayed retries."""
    prefix = f"{settings.REDGX_DRAMATIQ_NAMESPACE}:{queue_name}"
    pipeline = inference_redis().pipeline(transaction=False)
    pipeline.hlen(f"{prefix}.msgs")
    pipeline.hlen(f"{prefix}.DQ.msgs")
    return sum(pipeline.execute())
