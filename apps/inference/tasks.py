"""Dramatiq actors: one message per job; the batcher groups concurrent jobs into engine calls."""

import logging
import threading

import dramatiq
from django.conf import settings
from django.utils.translation import gettext_noop
from dramatiq.middleware import CurrentMessage

from . import jobs
from .batching import Batcher
from .engines.errors import EngineError
from .engines.registry import EngineConfig, engine_for
from .engines.tei import TeiClient

logger = logging.getLogger(__name__)

_batchers: dict[str, Batcher] = {}
_batchers_lock = threading.Lock()


def embed_batcher() -> Batcher:
    with _batchers_lock:
        if "embed" not in _batchers:
            engine = engine_for("embed")
            client = TeiClient(engine.base_url, engine.timeout_s)
            _batchers["embed"] = Batcher(
                "embed",
                _embed_call(client, engine),
                batch_size=engine.batch_size,
                max_wait_ms=engine.max_wait_ms,
                max_concurrent_calls=engine.max_concurrent_calls,
            )
        return _batchers["embed"]


def _embed_call(client: TeiClient, engine: EngineConfig):
    def call(inputs: list[str], params: tuple[bool, bool]) -> list[list[float]]:
        normalize, truncate = params
        vectors = []
        # One job may carry more inputs than a batch; the engine gets at most batch_size per call.
        for start in range(0, len(inputs), engine.batch_size):
            chunk = inputs[start : start + engine.batch_size]
            vectors.extend(client.embed(chunk, normalize=normalize, truncate=truncate))
        return vectors

    return call


def _attempt_number() -> int:
    message = CurrentMessage.get_current_message()
    return (message.options.get("retries", 0) if message else 0) + 1


@dramatiq.actor(queue_name="embed", actor_name="fail_exhausted_job", max_retries=3)
def fail_exhausted_job(message_data: dict, retry_info: dict) -> None:
    """Mark a job failed once Dramatiq has used up its retries."""
    req_id = message_data["args"][0]
    attempts = retry_info["retries"] + 1
    last = jobs.last_error(req_id)
    if last is None:
        code, reason = "internal_error", {"template": gettext_noop("The job failed in the worker."), "params": {}}
    else:
        code = last["code"]
        # An error stored without its template (by an older worker) has only the English message.
        reason = {"template": last["template"], "params": last["params"]} if "template" in last else last["message"]
    template = gettext_noop("%(reason)s (gave up after %(attempts)d attempts)")
    if jobs.fail_job(req_id, code, template, {"reason": reason, "attempts": attempts}):
        logger.info("Job %s failed after %d attempts: %s", req_id, attempts, code)


@dramatiq.actor(
    queue_name="embed",
    actor_name="run_embed",
    max_retries=settings.REDGX_JOB_MAX_RETRIES,
    on_retry_exhausted="fail_exhausted_job",
    time_limit=int(settings.REDGX_EMBED_TIMEOUT_S * 4 * 1000),
)
def run_embed(req_id: str) -> None:
    job = jobs.get_job(req_id)
    if job is None or job.status in jobs.FINAL_STATUSES:
        # Expired, or a second delivery of a job that already finished.
        logger.info("Skipping job %s: %s", req_id, "expired" if job is None else job.status)
        return
    if not jobs.mark_processing(req_id, _attempt_number()):
        return

    payload = job.payload
    future = embed_batcher().submit(payload["inputs"], (payload["normalize"], payload["truncate"]))
    try:
        vectors = future.result()
    except EngineError as exc:
        if exc.transient:
            jobs.mark_retrying(req_id, exc.code, exc.template, exc.params)
            logger.warning("Job %s attempt %d failed: %s", req_id, _attempt_number(), exc.message)
            raise
        jobs.fail_job(req_id, exc.code, exc.template, exc.params)
        logger.info("Job %s failed: %s", req_id, exc.message)
        return

    jobs.complete_job(req_id, {"vectors": vectors, "dimensions": len(vectors[0]) if vectors else 0})
