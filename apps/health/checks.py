"""Dependency checks for /readyz. Each returns a detail dict with "ok" and the time it took."""

import time
from collections.abc import Callable

import httpx
from django.db import connection

from apps.core.redis import check_data_redis, inference_redis
from apps.inference.engines.registry import configured_engines

ENGINE_TIMEOUT_S = 2.0


def _timed(check: Callable[[], dict | None]) -> dict:
    started = time.monotonic()
    try:
        extra = check() or {}
        result = {"ok": True, **extra}
    except Exception as exc:
        # The class name is enough to tell an operator what failed, without leaking internals.
        result = {"ok": False, "error": type(exc).__name__}
    result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _engine(base_url: str) -> Callable[[], dict]:
    def check() -> dict:
        response = httpx.get(f"{base_url}/health", timeout=ENGINE_TIMEOUT_S, follow_redirects=False)
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}")
        return {"url": base_url}

    return check


def core_checks() -> dict[str, dict]:
    return {
        "database": _timed(_database),
        "data_redis": _timed(check_data_redis),
        "inference_redis": _timed(lambda: inference_redis().ping() and None),
    }


def engine_checks() -> dict[str, dict]:
    checks = {}
    for engine in configured_engines():
        result = _timed(_engine(engine.base_url))
        result.setdefault("url", engine.base_url)
        checks[f"engine:{engine.task}"] = result
    return checks
