"""The Dramatiq broker on the inference Redis, shared by web (to send) and worker (to run).

Dramatiq messages carry no job: each one wakes a worker thread, which takes the next job
from the fair queues in apps/inference/queues.py. Retries, leases and delivery counts
live in those queues, so Dramatiq's Retries middleware is left out.
"""

import time

import dramatiq
import redis.exceptions
from django.conf import settings
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import compute_backoff, q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import Callbacks, CurrentMessage, ShutdownNotifications

from apps.core.redis import inference_redis

# Share of the Redis client's socket timeout that one blocking wait may last, so that a
# blocked read never counts as a hung connection.
WAIT_SHARE_OF_SOCKET_TIMEOUT = 0.5


class BlockingRedisBroker(RedisBroker):
    """A RedisBroker whose idle consumers block on their queue's list instead of sleeping.

    Dramatiq's Redis consumer (read in dramatiq 2.2.1) polls. After an empty fetch it
    sleeps with jittered exponential backoff up to the worker timeout
    (``dramatiq_worker_timeout``), so a message sent to an idle worker waited up to that
    long before a fetch found it. Here an idle consumer blocks on the queue's list, which
    every enqueue pushes to, and fetches as soon as the list is not empty.
    """

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if q_name(queue_name) != queue_name:
            # Delay and dead-letter queues keep Dramatiq's polling consumer.
            return super().consume(queue_name, prefetch, timeout)
        # With a timeout of 0 the polling consumer returns None at once after an empty
        # fetch, and the blocking consumer does the waiting.
        polling = super().consume(queue_name, prefetch, 0)
        return _BlockingConsumer(self, polling, queue_name, prefetch, timeout)


def _socket_timeout(client: redis.Redis) -> float | None:
    # Read it from a connection: redis-py 8 leaves its default (5 s) out of connection_kwargs.
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        return connection.socket_timeout
    finally:
        pool.release(connection)


class _BlockingConsumer(Consumer):
    """Wraps Dramatiq's Redis consumer and waits for the queue's list before each fetch.

    The wait is a BLMOVE of the list's head back to its head, which returns as soon as the
    list has a message and leaves the list as it was. Dramatiq enqueues with RPUSH and
    fetches with LPOP on ``{namespace}:{queue}`` (its dispatch.lua, read in dramatiq 2.2.1).
    A push wakes every consumer blocked on the list, one per worker process, and the first
    fetch takes the message. A wait that times out is followed by a fetch as well, so the
    consumer still fetches at least once per worker timeout, as Dramatiq's own consumer does.
    """

    def __init__(self, broker: BlockingRedisBroker, polling: Consumer, queue_name: str, prefetch: int, timeout_ms: int):
        self.broker = broker
        self.polling = polling
        self.queue_key = f"{broker.namespace}:{queue_name}"
        self.prefetch = prefetch
        self.timeout_ms = timeout_ms
        self.max_wait_s: float | None = None
        self.misses = 0

    @property
    def outstanding_message_count(self) -> int:
        return self.polling.outstanding_message_count

    def ack(self, message: MessageProxy) -> None:
        self.polling.ack(message)

    def nack(self, message: MessageProxy) -> None:
        self.polling.nack(message)

    def requeue(self, messages) -> None:
        self.polling.requeue(messages)

    def close(self) -> None:
        self.polling.close()

    def __next__(self) -> MessageProxy | None:
        """Return the next message, or None when none came within the worker timeout."""
        # NOTE: message_cache is internal to Dramatiq's _RedisConsumer (read in dramatiq
        # 2.2.1): the fetched messages not yet returned. Check it when upgrading Dramatiq.
        if not self.polling.message_cache:
            if self.polling.outstanding_message_count >= self.prefetch:
                # Prefetch is full, so a fetch would take nothing: sleep like Dramatiq does.
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout_ms)
                time.sleep(backoff_ms / 1000)
                return None
            self._wait_for_message()
        message = next(self.polling)
        if message is not None:
            self.misses = 0
        return message

    def _wait_for_message(self) -> None:
        """Block until the queue's list has a message or the worker timeout passes."""
        try:
            if self.max_wait_s is None:
                self.max_wait_s = self.timeout_ms / 1000
                socket_timeout = _socket_timeout(self.broker.client)
                if socket_timeout:
                    self.max_wait_s = min(self.max_wait_s, socket_timeout * WAIT_SHARE_OF_SOCKET_TIMEOUT)
            # BLMOVE with a timeout of 0 would block forever, so a timeout of 0 polls.
            if self.max_wait_s > 0:
                self.broker.client.blmove(self.queue_key, self.queue_key, self.max_wait_s, "LEFT", "LEFT")
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # Dramatiq's worker restarts a consumer that raises ConnectionClosed.
            raise ConnectionClosed(exc) from None


def setup_broker() -> RedisBroker:
    broker = BlockingRedisBroker(
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
