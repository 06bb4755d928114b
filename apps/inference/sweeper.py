"""The sweeper: a thread in every worker process that keeps the queues' promises.

Each REDGX_SWEEP_INTERVAL_S every process reloads the engine registry if it changed.
Then one process at a time (a Redis lock that expires before the next round):

- requeues jobs whose lease expired at the head of their namespace's list and sends a
  wake-up for each, or fails them with ``delivery_limit`` once their leases expired
  REDGX_JOB_MAX_DELIVERIES times (a job that kills or stalls every worker);
- moves retries whose backoff ended back to their lists;
- fails queued jobs past their deadline with ``expired``, even while a circuit is open;
- probes the health of engines whose circuit is open (one worker per engine per interval);
- tops up wake-ups when a task has more queued jobs than Dramatiq messages, so a lost
  wake-up cannot strand a job.
"""

import logging
import threading

import redis.exceptions
from django.conf import settings
from django.db import close_old_connections

from . import circuit, jobs, queues, stats
from .broker import queued_message_count, send_wakeup
from .engines import registry

logger = logging.getLogger(__name__)

LOCK_KEY = "redgx:sweeper:lock"
# Wake-ups one round sends per task at most, so a backlog is topped up over a few rounds.
MAX_TOPUP = 100


def sweep_once() -> None:
    registry.refresh()
    # The registry reload may have opened a connection; Django closes stale ones only per request.
    close_old_connections()
    lock_ms = max(1, int(settings.REDGX_SWEEP_INTERVAL_S * 900))
    if not queues.inference_redis().set(LOCK_KEY, 1, nx=True, px=lock_ms):
        return
    tasks = registry.served_tasks()
    for task in tasks:
        _requeue_expired(task)
        queues.promote_due(task)
    _expire_due()
    _probe_open_circuits()
    for task in tasks:
        _top_up_wakeups(task)
    # The dashboard's queue-depth chart gets a sample every round, not only when someone reads metrics.
    stats.record_queue_depths({task: queues.queue_depth(task) for task in tasks})


def _requeue_expired(task: str) -> None:
    requeued, over = queues.requeue_expired(task, settings.REDGX_JOB_MAX_DELIVERIES)
    for req_id in requeued:
        logger.warning("Job %s lost its lease and goes back to the head of its queue", req_id)
        send_wakeup(task)
    for req_id in over:
        params = {"count": settings.REDGX_JOB_MAX_DELIVERIES}
        if jobs.fail_job(req_id, "delivery_limit", jobs.DELIVERY_LIMIT_MESSAGE, params):
            logger.error("Job %s failed: its lease expired %d times", req_id, settings.REDGX_JOB_MAX_DELIVERIES)


def _expire_due() -> None:
    for req_id in queues.due_deadlines():
        if jobs.fail_job(req_id, "expired", jobs.EXPIRED_MESSAGE):
            logger.info("Job %s expired before it was sent", req_id)


def _probe_open_circuits() -> None:
    from .tasks import health_of

    for engine in registry.configured_engines():
        if not circuit.is_open(engine.name) or not circuit.claim_probe(engine.name):
            continue

        def probe(engine=engine) -> None:
            if health_of(engine):
                circuit.close(engine.name)
                # Jobs wait in their queues with delayed wake-ups; send some now so they need not wait.
                for _ in range(min(queues.queue_depth(engine.task), MAX_TOPUP)):
                    send_wakeup(engine.task)

        # A probe thread per engine, so a slow health check cannot stall the sweep.
        threading.Thread(target=probe, name=f"probe-{engine.name}", daemon=True).start()


def _top_up_wakeups(task: str) -> None:
    missing = queues.queue_depth(task) - queued_message_count(task)
    for _ in range(min(missing, MAX_TOPUP)):
        send_wakeup(task)


class Sweeper:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redgx-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        logger.info("Sweeper started (every %.2f s)", settings.REDGX_SWEEP_INTERVAL_S)
        while not self._stop.wait(settings.REDGX_SWEEP_INTERVAL_S):
            try:
                sweep_once()
            except redis.exceptions.RedisError as exc:
                logger.warning("Sweep failed, retrying next round: %s", exc)
            except Exception:
                logger.exception("Sweep failed, retrying next round")
