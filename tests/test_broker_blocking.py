"""The broker's blocking consumer: an idle consumer fetches a message as soon as it is sent."""

import threading
import time

import dramatiq
import redis
from django.conf import settings

from apps.inference.broker import BlockingRedisBroker

QUEUE = "wake-test"
NAMESPACE = "redgx-wake-test"


def make_broker() -> BlockingRedisBroker:
    # No socket timeout, so that a consumer may block for its whole worker timeout.
    client = redis.Redis.from_url(settings.REDGX_INFERENCE_REDIS_URL, socket_timeout=None)
    return BlockingRedisBroker(client=client, namespace=NAMESPACE, middleware=[])


def new_message() -> dramatiq.Message:
    return dramatiq.Message(queue_name=QUEUE, actor_name="run_test", args=(), kwargs={}, options={})


def consume_in_thread(consumer, count: int) -> tuple[threading.Thread, list]:
    """Start a thread that takes ``count`` messages from the consumer and acknowledges each."""
    received = []

    def consume() -> None:
        while len(received) < count:
            message = next(consumer)
            if message is not None:
                received.append(message)
                consumer.ack(message)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread, received


def wait_for_blocked_consumer(client: redis.Redis, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(entry["cmd"] == "blmove" for entry in client.client_list()):
            return
        time.sleep(0.01)
    raise AssertionError(f"no consumer blocked on its queue within {timeout} s")


def test_idle_consumer_wakes_on_enqueue():
    broker = make_broker()
    # A polling consumer with this worker timeout would sleep up to 120 s between fetches.
    consumer = broker.consume(QUEUE, prefetch=1, timeout=120_000)
    thread, received = consume_in_thread(consumer, 1)
    wait_for_blocked_consumer(broker.client)

    sent = broker.enqueue(new_message())
    thread.join(timeout=30)

    assert not thread.is_alive(), "the consumer did not fetch the message within 30 s"
    assert [message.message_id for message in received] == [sent.message_id]
    assert broker.client.llen(f"{NAMESPACE}:{QUEUE}") == 0
    assert broker.client.hlen(f"{NAMESPACE}:{QUEUE}.msgs") == 0


def test_backlog_beyond_prefetch_fetched_in_order():
    broker = make_broker()
    sent = [broker.enqueue(new_message()) for _ in range(5)]
    consumer = broker.consume(QUEUE, prefetch=2, timeout=120_000)
    thread, received = consume_in_thread(consumer, 5)

    thread.join(timeout=30)

    assert not thread.is_alive(), f"the consumer fetched {len(received)} of 5 messages within 30 s"
    assert [message.message_id for message in received] == [message.message_id for message in sent]
    assert broker.client.hlen(f"{NAMESPACE}:{QUEUE}.msgs") == 0


def test_waiting_consumer_leaves_queue_unchanged():
    broker = make_broker()
    sent = [broker.enqueue(new_message()) for _ in range(3)]
    before = broker.client.lrange(f"{NAMESPACE}:{QUEUE}", 0, -1)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=1000)

    consumer._wait_for_message()

    assert broker.client.lrange(f"{NAMESPACE}:{QUEUE}", 0, -1) == before
    assert len(before) == len(sent)
