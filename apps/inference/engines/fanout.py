"""Running one engine request per item, for protocols that take a single item per request."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .errors import EngineError

Item = TypeVar("Item")
Output = TypeVar("Output")


def call_each(items: list[Item], call_one: Callable[[Item], Output], max_concurrent_calls: int) -> list[Output]:
    """Call call_one for every item, at most max_concurrent_calls at a time, and keep the order.

    When any item fails, the whole call raises, as the EngineClient contract requires. A
    permanent error wins over a transient one, so the batcher splits the batch and only
    the rejected item fails; the others are sent again.
    """
    if len(items) <= 1 or max_concurrent_calls <= 1:
        return [call_one(item) for item in items]

    with ThreadPoolExecutor(max_workers=min(max_concurrent_calls, len(items))) as pool:
        futures = [pool.submit(call_one, item) for item in items]
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:
        permanent = [error for error in errors if isinstance(error, EngineError) and not error.transient]
        raise (permanent or errors)[0]
    return [future.result() for future in futures]
