"""A circuit breaker per engine, shared by every worker through the inference Redis.

``redgx:circuit:{engine}`` is a hash with ``failures`` (transient failures in a row) and
``open`` (1 while open). REDGX_ENGINE_FAILURE_THRESHOLD failures in a row open the
circuit; while it is open workers take no jobs of that engine, and one worker at a time
(``redgx:circuit:{engine}:probe``, a lock that expires after the probe interval) calls
the engine's GET /health and closes the circuit when it answers 200.
"""

import logging

import redis.exceptions
from django.conf import settings
from redis.commands.core import Script

from apps.core.redis import inference_redis

logger = logging.getLogger(__name__)

# ARGV: threshold. Returns 1 when this failure opened the circuit.
_RECORD_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[1]) and redis.call('HGET', KEYS[1], 'open') ~= '1' then
  redis.call('HSET', KEYS[1], 'open', '1')
  return 1
end
return 0
"""

_script: Script | None = None


def circuit_key(engine_name: str) -> str:
    return f"redgx:circuit:{engine_name}"


def is_open(engine_name: str) -> bool:
    try:
        return inference_redis().hget(circuit_key(engine_name), "open") == b"1"
    except redis.exceptions.RedisError as exc:
        # Without Redis no job can be taken either, so dispatch proceeds and fails there.
        logger.warning("Could not read the circuit of engine %s: %s", engine_name, exc)
        return False


def record_failure(engine_name: str) -> bool:
    """Count a transient failure; return True when it opened the circuit."""
    global _script
    if _script is None:
        _script = inference_redis().register_script(_RECORD_FAILURE)
    opened = bool(_script(keys=[circuit_key(engine_name)], args=[settings.REDGX_ENGINE_FAILURE_THRESHOLD]))
    if opened:
        logger.warning(
            "Circuit of engine %s opened after %d transient failures in a row",
            engine_name,
            settings.REDGX_ENGINE_FAILURE_THRESHOLD,
        )
    return opened


def record_success(engine_name: str) -> None:
    # A plain HSET would race with a concurrent opening; resetting only the counter is enough,
    # because a successful call proves the engine serves, and the probe closes an open circuit.
    inference_redis().hset(circuit_key(engine_name), "failures", 0)


def close(engine_name: str) -> None:
    inference_redis().hset(circuit_key(engine_name), mapping={"open": "0", "failures": 0})
    logger.info("Circuit of engine %s closed: its health check passed", engine_name)


def claim_probe(engine_name: str) -> bool:
    """Return True for the one worker that may probe the engine now."""
    interval_ms = max(1, int(settings.REDGX_ENGINE_PROBE_INTERVAL_S * 1000))
    return bool(inference_redis().set(f"{circuit_key(engine_name)}:probe", 1, nx=True, px=interval_ms))
