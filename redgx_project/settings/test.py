"""Test settings: real PostgreSQL and Redis on this machine, separate Redis databases per role."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/redgx")
os.environ.setdefault("REDGX_DATA_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("REDGX_INFERENCE_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-checks")

from .base import *  # noqa: F403
from .base import env

# Tests fail fast instead of waiting on a retry schedule meant for production.
# Worker processes read these too; a test changes them through environment overrides.
REDGX_JOB_MAX_ATTEMPTS = env.int("REDGX_JOB_MAX_ATTEMPTS", default=3)
REDGX_JOB_MIN_BACKOFF_MS = env.int("REDGX_JOB_MIN_BACKOFF_MS", default=50)
REDGX_JOB_MAX_BACKOFF_MS = env.int("REDGX_JOB_MAX_BACKOFF_MS", default=200)
REDGX_JOB_LEASE_MARGIN_S = env.float("REDGX_JOB_LEASE_MARGIN_S", default=2.0)
REDGX_SWEEP_INTERVAL_S = env.float("REDGX_SWEEP_INTERVAL_S", default=0.25)
REDGX_ENGINE_PROBE_INTERVAL_S = env.float("REDGX_ENGINE_PROBE_INTERVAL_S", default=0.5)
REDGX_KEY_USAGE_FLUSH_S = 0

# Access rows of the test process wait for apps.access.buffer.flush_now(), so that no
# background thread writes outside a test's transaction. Servers started by tests set it.
REDGX_ACCESS_FLUSH_S = env.float("REDGX_ACCESS_FLUSH_S", default=0)
# Bounds the memory of rows that the test process buffers and never writes.
REDGX_ACCESS_BUFFER_MAX = env.int("REDGX_ACCESS_BUFFER_MAX", default=10_000)

# Generous per-key request rates, so that suites sending many requests with one key stay under
# the limit. Tests of rate limiting give their keys a quota policy of their own.
REDGX_RATE_PER_S = env.float("REDGX_RATE_PER_S", default=10_000.0)
REDGX_RATE_BURST = env.int("REDGX_RATE_BURST", default=100_000)
