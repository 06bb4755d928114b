"""Per-key rate limits: GCRA in one Lua script on the inference Redis.

The generic cell rate algorithm stores one number per key, the theoretical arrival time
(TAT) of the next request. A request is allowed when TAT minus the burst allowance is not
in the future. The check and the update run in one script, so every web process shares
one exact budget per key. The clock is Redis's TIME, so the processes' clocks do not matter.

When Redis cannot be reached the request is allowed (fail open) and a warning is logged,
because refusing every request would turn a Redis outage into an API outage.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

import redis.exceptions

from apps.core.redis import inference_redis

logger = logging.getLogger(__name__)

KEY_PREFIX = "redgx:ratelimit:"
# Seconds between two "rate limiter unavailable" warnings of one process.
FAILURE_LOG_INTERVAL_S = 10.0

# KEYS[1]: the bucket. ARGV: emission interval in microseconds (1 / rate), burst.
# Returns {allowed (0/1), remaining, retry_after_us, reset_after_us}.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
local diff = now - allow_at
if diff < 0 then
  return {0, 0, -diff, tat - now}
end
local remaining = math.floor(diff / interval)
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, remaining, 0, new_tat - now}
"""


@dataclass(frozen=True)
class Decision:
    """The outcome of one rate-limit check, and what the RateLimit-* headers report."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until the bucket is full again.
    reset_s: float
    # Seconds until a rejected request may be retried; 0 when allowed.
    retry_after_s: float
    rate_per_s: float

    def headers(self) -> dict[str, str]:
        window_s = max(1, math.ceil(self.limit / self.rate_per_s))
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
            "RateLimit-Policy": f"{self.limit};w={window_s}",
        }


_script = None
_script_lock = threading.Lock()
_last_failure_log = 0.0
_failures_since_log = 0


def _gcra():
    global _script
    client = inference_redis()
    with _script_lock:
        if _script is None or _script.registered_client is not client:
            _script = client.register_script(GCRA_SCRIPT)
        return _script


def check(bucket: str, rate_per_s: float, burst: int) -> Decision | None:
    """Take one request from ``bucket``; return None when Redis is unavailable (fail open)."""
    interval_us = max(1, round(1_000_000 / rate_per_s))
    try:
        allowed, remaining, retry_after_us, reset_us = _gcra()(keys=[KEY_PREFIX + bucket], args=[interval_us, burst])
    except redis.exceptions.RedisError as exc:
        _log_failure(exc)
        return None
    return Decision(
        allowed=bool(allowed),
        limit=burst,
        remaining=int(remaining),
        reset_s=int(reset_us) / 1_000_000,
        retry_after_s=int(retry_after_us) / 1_000_000,
        rate_per_s=rate_per_s,
    )


def _log_failure(exc: Exception) -> None:
    global _last_failure_log, _failures_since_log
    _failures_since_log += 1
    now = time.monotonic()
    if now - _last_failure_log >= FAILURE_LOG_INTERVAL_S:
        logger.warning(
            "Rate limiter unavailable, allowing requests without a limit (%d checks since the last warning): %s",
            _failures_since_log,
            exc,
        )
        _last_failure_log, _failures_since_log = now, 0
