"""Engine endpoints per task: enabled rows of the EngineEndpoint table, else settings.

Every process keeps the registry in memory. A save or delete in the admin (or the ORM)
increments a version key in the inference Redis after its transaction commits, and a
process reloads the table when it reads a new version. Workers check from their sweeper
thread every REDGX_SWEEP_INTERVAL_S, other processes on use at most once per second.
When PostgreSQL is unreachable the process keeps the last registry it loaded.
"""

import logging
import threading
import time
from dataclasses import dataclass

import redis.exceptions
from django.conf import settings
from django.db import DatabaseError

from apps.core.redis import inference_redis

logger = logging.getLogger(__name__)

VERSION_KEY = "redgx:engines:version"
VERSION_CHECK_INTERVAL_S = 1.0

# Engine protocols that can serve each task, for tasks that have no TaskSpec yet.
TASK_PROTOCOLS = {
    "embed": ("tei",),
    "generate": ("openai_completions", "openai_chat"),
    "translate": ("redgx_translate",),
    "stt": ("openai_transcriptions",),
    "ocr": ("redgx_ocr",),
}


@dataclass(frozen=True)
class EngineConfig:
    # Unique across the registry; circuit breakers, batchers and stats are keyed by it.
    name: str
    task: str
    base_url: str
    protocol: str
    # Model name sent to engines that serve several (OpenAI protocols); empty when unused.
    model: str
    # A call goes out when batch_size items have gathered or max_wait_ms has passed
    # since the first of them, whichever comes first, and at once when no call is in flight.
    batch_size: int
    max_wait_ms: int
    max_concurrent_calls: int
    connect_timeout_s: float
    # Read timeout of one HTTP request to the engine.
    timeout_s: float


class NoEngineError(LookupError):
    """No enabled engine serves the task (and model)."""


def task_protocols(task: str) -> tuple[str, ...]:
    """Return the protocols that can serve a task, from its TaskSpec when one exists."""
    from apps.inference import taskspecs

    spec = getattr(taskspecs, "TASKS", {}).get(task)
    if spec is not None:
        return tuple(spec.protocols)
    return TASK_PROTOCOLS.get(task, ())


def default_engines() -> dict[str, EngineConfig]:
    """Build each task's engine from settings, used while the table has no enabled row for the task.

    Tasks whose engine URL setting is empty are left out.
    """
    connect = settings.REDGX_ENGINE_CONNECT_TIMEOUT_S
    engines = {
        "embed": EngineConfig(
            name="default-embed",
            task="embed",
            base_url=settings.REDGX_EMBED_ENGINE_URL,
            protocol="tei",
            model="",
            batch_size=settings.REDGX_EMBED_BATCH_SIZE,
            max_wait_ms=settings.REDGX_EMBED_MAX_WAIT_MS,
            max_concurrent_calls=settings.REDGX_EMBED_MAX_CONCURRENT_CALLS,
            connect_timeout_s=connect,
            timeout_s=settings.REDGX_EMBED_TIMEOUT_S,
        ),
        "generate": EngineConfig(
            name="default-generate",
            task="generate",
            base_url=settings.REDGX_GENERATE_ENGINE_URL,
            protocol=settings.REDGX_GENERATE_ENGINE_PROTOCOL,
            model=settings.REDGX_GENERATE_MODEL,
            batch_size=settings.REDGX_GENERATE_BATCH_SIZE,
            max_wait_ms=settings.REDGX_GENERATE_MAX_WAIT_MS,
            max_concurrent_calls=settings.REDGX_GENERATE_MAX_CONCURRENT_CALLS,
            connect_timeout_s=connect,
            timeout_s=settings.REDGX_GENERATE_TIMEOUT_S,
        ),
        "translate": EngineConfig(
            name="default-translate",
            task="translate",
            base_url=settings.REDGX_TRANSLATE_ENGINE_URL,
            protocol="redgx_translate",
            model="",
            batch_size=settings.REDGX_TRANSLATE_BATCH_SIZE,
            max_wait_ms=settings.REDGX_TRANSLATE_MAX_WAIT_MS,
            max_concurrent_calls=settings.REDGX_TRANSLATE_MAX_CONCURRENT_CALLS,
            connect_timeout_s=connect,
            timeout_s=settings.REDGX_TRANSLATE_TIMEOUT_S,
        ),
        "stt": EngineConfig(
            name="default-stt",
            task="stt",
            base_url=settings.REDGX_STT_ENGINE_URL,
            protocol="openai_transcriptions",
            model=settings.REDGX_STT_MODEL,
            batch_size=1,
            max_wait_ms=0,
            max_concurrent_calls=settings.REDGX_STT_MAX_CONCURRENT_CALLS,
            connect_timeout_s=connect,
            timeout_s=settings.REDGX_STT_TIMEOUT_S,
        ),
        "ocr": EngineConfig(
            name="default-ocr",
            task="ocr",
            base_url=settings.REDGX_OCR_ENGINE_URL,
            protocol="redgx_ocr",
            model="",
            batch_size=1,
            max_wait_ms=0,
            max_concurrent_calls=settings.REDGX_OCR_MAX_CONCURRENT_CALLS,
            connect_timeout_s=connect,
            timeout_s=settings.REDGX_OCR_TIMEOUT_S,
        ),
    }
    return {task: engine for task, engine in engines.items() if engine.base_url}


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[EngineConfig] | None = None
        self.version: bytes | None = None
        self.checked_at = 0.0
        # Workers set this: their sweeper thread refreshes, so actor threads never query the database.
        self.background_refresh = False


_registry = _Registry()


def _load_rows() -> list[EngineConfig]:
    from apps.inference.models import EngineEndpoint

    return [row.to_config() for row in EngineEndpoint.objects.filter(enabled=True).order_by("name")]


def refresh(force: bool = False) -> bool:
    """Reload the table if its version changed (or on the first call); return True if it reloaded."""
    with _registry.lock:
        try:
            version = inference_redis().get(VERSION_KEY)
        except redis.exceptions.RedisError as exc:
            logger.warning("Could not read the engine registry version: %s", exc)
            version = _registry.version
        _registry.checked_at = time.monotonic()
        if not force and _registry.rows is not None and version == _registry.version:
            return False
        try:
            rows = _load_rows()
        except DatabaseError as exc:
            # The last good registry stays; the next check tries again.
            logger.warning("Could not load the engine registry, keeping the last one: %s", exc)
            return False
        changed = rows != _registry.rows
        _registry.rows, _registry.version = rows, version
        if changed:
            logger.info("Engine registry loaded: %s", ", ".join(row.name for row in rows) or "settings only")
        return True


def _rows() -> list[EngineConfig]:
    stale = time.monotonic() - _registry.checked_at >= VERSION_CHECK_INTERVAL_S
    if _registry.rows is None or (stale and not _registry.background_refresh):
        refresh()
    return _registry.rows or []


def forget() -> None:
    """Drop the loaded registry, so the next use loads the table again."""
    with _registry.lock:
        _registry.rows = None


def use_background_refresh() -> None:
    _registry.background_refresh = True


def bump_version() -> None:
    """Tell every process to reload the registry."""
    try:
        inference_redis().incr(VERSION_KEY)
    except redis.exceptions.RedisError as exc:
        # NOTE: processes then see the change only when the version moves again.
        logger.warning("Could not publish an engine registry change: %s", exc)


def engines_for_task(task: str) -> list[EngineConfig]:
    """Return the enabled engines of a task, or its engine from settings when none is enabled."""
    rows = [row for row in _rows() if row.task == task]
    if rows:
        return rows
    default = default_engines().get(task)
    return [default] if default else []


def engine_for(task: str, model: str | None = None) -> EngineConfig:
    """Return the engine for a job: the first enabled one serving ``model``, or the first of the task.

    Raises NoEngineError when the task has no engine, or no enabled row serves the model.
    The engine from settings serves any model, because its server decides what it accepts.
    """
    rows = [row for row in _rows() if row.task == task]
    if not rows:
        default = default_engines().get(task)
        if default is None:
            raise NoEngineError(task)
        return default
    if not model:
        return rows[0]
    for row in rows:
        if row.model == model:
            return row
    raise NoEngineError(f"{task}/{model}")


def served_tasks() -> list[str]:
    """Return the tasks workers run: those with a TaskSpec, and embed."""
    from apps.inference import taskspecs

    return list(dict.fromkeys(["embed", *getattr(taskspecs, "TASKS", {})]))


def configured_engines() -> list[EngineConfig]:
    """Return every engine in use: enabled rows, and the settings engine of each served task without one."""
    return [engine for task in served_tasks() for engine in engines_for_task(task)]
