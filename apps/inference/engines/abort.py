"""Stopping a multi-request engine call once none of its jobs still needs the result.

A call that a client splits into several requests (TEI's client batch limit, a translation
engine's batch limit) checks between requests whether the batch's jobs are still held by
this worker. A job cancelled or lost to the sweeper mid-call makes the check fail for it;
when it fails for every job of the call, the remaining requests are not sent.
"""

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

_still_wanted: ContextVar[Callable[[], bool] | None] = ContextVar("redgx_engine_call_still_wanted", default=None)


class CallAbortedError(Exception):
    """No job of the call holds its lease any more, so its remaining requests were not sent."""


@contextmanager
def abort_when_unwanted(still_wanted: Callable[[], bool]):
    """Let the engine call made inside this block stop between requests once ``still_wanted()`` is False."""
    token = _still_wanted.set(still_wanted)
    try:
        yield
    finally:
        _still_wanted.reset(token)


def check_still_wanted() -> None:
    """Raise CallAbortedError when the call running in this thread is no longer wanted."""
    still_wanted = _still_wanted.get()
    if still_wanted is not None and not still_wanted():
        raise CallAbortedError
