"""Dramatiq actors: one wake-up message lets a worker thread take and run one job.

The thread takes the next job from the task's fair queue (queues.py), hands its items to
the engine's Batcher and waits for the outcome, then completes, retries or fails the job
under its lease token. A transient engine error spends an attempt and puts the job in
the delayed set with capped exponential backoff and full jitter, unless the engine's
circuit is open: then the job goes back to its queue without spending one.
"""

import json
import logging
import random
import threading
import time

import dramatiq
import httpx
import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext_noop

from apps.metrics import instruments

from . import circuit, jobs, queues, taskspecs
from .batching import Batcher, DeadlinePassedError, LeaseLostError
from .broker import send_wakeup, wakeup_actor_name
from .engines.errors import EngineError
from .engines.registry import TASK_PROTOCOLS, EngineConfig, NoEngineError, engine_for, engines_for_task

logger = logging.getLogger(__name__)

GAVE_UP_MESSAGE = gettext_noop("%(reason)s (gave up after %(attempts)d attempts)")
NO_ENGINE_MESSAGE = gettext_noop("No enabled engine serves this request (task %(task)s, model %(model)s).")
INTERNAL_ERROR_MESSAGE = gettext_noop("The job failed in the worker.")

_batchers: dict[EngineConfig, Batcher] = {}
_batchers_lock = threading.Lock()


def task_spec(task: str) -> taskspecs.TaskSpec | None:
    return taskspecs.TASKS.get(task)


def batcher_for(spec: taskspecs.TaskSpec, engine: EngineConfig) -> Batcher:
    """Return this process's batcher for an engine; a changed registry entry gets a new one.

    NOTE: the batcher of a replaced entry stays in memory, idle, until the process restarts.
    """
    with _batchers_lock:
        if engine not in _batchers:
            client = spec.make_client(engine)
            # NOTE: a TEI client splits further by the engine's /info limit, which is not known
            # here. A batch_size above that limit makes the lease estimate too short.
            request_size = getattr(client, "max_batch_size", engine.batch_size) or 1
            _batchers[engine] = Batcher(
                engine.name,
                client.call,
                # Engines that take one item per request batch internally; they get concurrent calls instead.
                batch_size=engine.batch_size if request_size > 1 else 1,
                max_wait_ms=engine.max_wait_ms,
                max_concurrent_calls=engine.max_concurrent_calls,
                timeout_s=engine.timeout_s,
                request_size=request_size,
            )
        return _batchers[engine]


def probe_ms() -> int:
    return max(1, int(settings.REDGX_ENGINE_PROBE_INTERVAL_S * 1000))


def process_next(task: str) -> None:
    """Take one job of the task and run it to an outcome; return at once if the queue is empty."""
    engines = engines_for_task(task)
    if engines and all(circuit.is_open(engine.name) for engine in engines):
        # Keep this wake-up for later instead of taking a job that cannot be sent.
        send_wakeup(task, delay_ms=probe_ms())
        return

    first = engines[0] if engines else None
    lease_s = (first.max_wait_ms / 1000 + first.timeout_s if first else 0) + settings.REDGX_JOB_LEASE_MARGIN_S
    req_id, token, expired = queues.take(task, lease_s)
    for expired_id in expired:
        if jobs.fail_job(expired_id, "expired", jobs.EXPIRED_MESSAGE):
            logger.info("Job %s expired before it was sent", expired_id)
    if req_id is None:
        return
    try:
        run_job(task, req_id, token)
    except Exception:
        logger.exception("Job %s failed in the worker", req_id)
        jobs.fail_job(req_id, "internal_error", INTERNAL_ERROR_MESSAGE, token=token)


def run_job(task: str, req_id: str, token: str) -> None:
    job = jobs.get_job(req_id)
    if job is None:
        return
    queued_ms = round((time.time() - job.created_at) * 1000, 1)
    spec = task_spec(task)
    model = spec.requested_model(job.payload) if spec else None
    try:
        if spec is None:
            raise NoEngineError(task)
        engine = engine_for(task, model)
    except NoEngineError:
        jobs.fail_job(req_id, "no_engine", NO_ENGINE_MESSAGE, {"task": task, "model": model or "-"}, token=token)
        return

    if circuit.is_open(engine.name):
        _release(task, req_id, token)
        return

    batcher = batcher_for(spec, engine)
    deadline_at = job.deadline_at or float("inf")
    future = batcher.submit(req_id, token, spec.inputs(job.payload), spec.batch_key(job.payload), deadline_at)
    try:
        outcome = future.result()
    except LeaseLostError:
        logger.info("Job %s was cancelled or taken over before its engine call", req_id)
        return
    except DeadlinePassedError:
        if jobs.fail_job(req_id, "expired", jobs.EXPIRED_MESSAGE, token=token, timings={"queued_ms": queued_ms}):
            logger.info("Job %s expired while it waited for its engine call", req_id)
        return
    except EngineError as exc:
        if exc.transient:
            _retry_or_fail(task, job, token, engine, exc, queued_ms)
        elif jobs.fail_job(req_id, exc.code, exc.template, exc.params, token=token, timings={"queued_ms": queued_ms}):
            logger.info("Job %s failed: %s", req_id, exc.message)
        return

    timings = {"queued_ms": queued_ms, "batch_wait_ms": outcome.batch_wait_ms, "engine_ms": outcome.engine_ms}
    result = spec.result(job.payload, outcome.outputs, engine)
    if not jobs.complete_job(req_id, result, token=token, timings=timings):
        logger.info("Discarded the result of job %s: it was cancelled or its lease expired", req_id)


def _release(task: str, req_id: str, token: str) -> None:
    if queues.release(req_id, token):
        send_wakeup(task, delay_ms=probe_ms())


def _retry_or_fail(task: str, job: jobs.Job, token: str, engine: EngineConfig, exc: EngineError, queued_ms) -> None:
    if circuit.is_open(engine.name):
        # The engine is down, not this job's input: the job waits for the circuit to close.
        logger.info("Job %s goes back to its queue: the circuit of engine %s is open", job.req_id, engine.name)
        _release(task, job.req_id, token)
        return

    attempt = max(1, job.attempts)
    cap_ms = min(settings.REDGX_JOB_MAX_BACKOFF_MS, settings.REDGX_JOB_MIN_BACKOFF_MS * 2 ** (attempt - 1))
    # Jitter spreads retries out; it needs no cryptographic randomness.
    backoff_ms = random.uniform(0, cap_ms)  # noqa: S311
    last_error = json.dumps({"code": exc.code, "message": exc.message, "template": exc.template, "params": exc.params})
    outcome = queues.retry_later(
        job.req_id, token, time.time() + backoff_ms / 1000, settings.REDGX_JOB_MAX_ATTEMPTS, last_error
    )
    if outcome == 1:
        instruments.job_retried(task, exc.code)
        logger.warning(
            "Job %s attempt %d failed, retrying in %.0f ms: %s", job.req_id, attempt, backoff_ms, exc.message
        )
        send_wakeup(task, delay_ms=int(backoff_ms) + 1)
    elif outcome == -1:
        logger.info("Discarded the failed attempt of job %s: it was cancelled or its lease expired", job.req_id)
    elif outcome == 0:
        reason = {"template": exc.template, "params": exc.params}
        params = {"reason": reason, "attempts": attempt}
        if jobs.fail_job(job.req_id, exc.code, GAVE_UP_MESSAGE, params, token=token, timings={"queued_ms": queued_ms}):
            logger.info("Job %s failed after %d attempts: %s", job.req_id, attempt, exc.code)


def health_of(engine: EngineConfig) -> bool:
    spec = task_spec(engine.task)
    if spec is None:
        return False
    try:
        return bool(spec.make_client(engine).health())
    except (EngineError, httpx.HTTPError, redis.exceptions.RedisError) as exc:
        logger.info("Health probe of engine %s failed: %s", engine.name, exc)
        return False


def _declare_actor(task: str):
    # Positional arguments are ignored: older senders put the req_id in the wake-up.
    def run(*_ignored) -> None:
        process_next(task)

    run.__name__ = wakeup_actor_name(task)
    # A wake-up blocks while its job's engine call runs; leases, not Dramatiq, bound that time.
    return dramatiq.actor(run, queue_name=task, actor_name=wakeup_actor_name(task))


ACTORS = {task: _declare_actor(task) for task in TASK_PROTOCOLS}
# The submit view sends this one's wake-up.
run_embed = ACTORS["embed"]
