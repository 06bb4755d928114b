"""Gathering requests from worker threads into engine calls.

Each Dramatiq worker thread handles one job and blocks on a Future while a
Batcher collects jobs with the same call parameters. A call leaves when the
gathered inputs reach ``batch_size`` or ``max_wait_ms`` after the first input
arrived. Calls run in a pool of ``max_concurrent_calls`` threads; while all are
busy, new jobs keep gathering, so batches grow with load.
"""

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from .engines.errors import EngineError

logger = logging.getLogger(__name__)

# call(inputs, params) -> one result per input, in order
EngineCall = Callable[[list, Hashable], list]


@dataclass
class _Pending:
    inputs: list
    future: Future = field(default_factory=Future)


@dataclass
class _Group:
    first_at: float
    items: list[_Pending] = field(default_factory=list)
    input_count: int = 0


class Batcher:
    def __init__(self, name: str, call: EngineCall, *, batch_size: int, max_wait_ms: int, max_concurrent_calls: int):
        self.name = name
        self.call = call
        self.batch_size = max(1, batch_size)
        self.max_wait_s = max(0, max_wait_ms) / 1000
        self._groups: dict[Hashable, _Group] = {}
        self._condition = threading.Condition()
        self._slots = threading.Semaphore(max(1, max_concurrent_calls))
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_concurrent_calls), thread_name_prefix=f"{name}-call")
        self._thread = threading.Thread(target=self._run, name=f"{name}-batcher", daemon=True)
        self._thread.start()

    def submit(self, inputs: list, params: Hashable) -> Future:
        """Queue the inputs of one job; the Future gets their results or an EngineError."""
        pending = _Pending(list(inputs))
        with self._condition:
            group = self._groups.get(params)
            if group is None:
                group = self._groups[params] = _Group(first_at=time.monotonic())
            group.items.append(pending)
            group.input_count += len(pending.inputs)
            self._condition.notify()
        return pending.future

    def _run(self) -> None:
        while True:
            # Take a call slot first: while every slot is busy, jobs keep gathering.
            self._slots.acquire()
            params, items = self._next_batch()
            self._pool.submit(self._send, params, items)

    def _next_batch(self) -> tuple[Hashable, list[_Pending]]:
        with self._condition:
            while True:
                now = time.monotonic()
                ready = self._ready_group(now)
                if ready is not None:
                    return ready, self._take(ready)
                self._condition.wait(timeout=self._time_to_next_deadline(now))

    def _ready_group(self, now: float) -> Hashable | None:
        for params, group in self._groups.items():
            if group.input_count >= self.batch_size or now - group.first_at >= self.max_wait_s:
                return params
        return None

    def _time_to_next_deadline(self, now: float) -> float | None:
        if not self._groups:
            return None
        return max(0.0, min(group.first_at + self.max_wait_s for group in self._groups.values()) - now)

    def _take(self, params: Hashable) -> list[_Pending]:
        """Remove up to batch_size inputs of whole jobs from a group (at least one job)."""
        group = self._groups[params]
        batch, count = [], 0
        while group.items and (not batch or count + len(group.items[0].inputs) <= self.batch_size):
            item = group.items.pop(0)
            batch.append(item)
            count += len(item.inputs)
        group.input_count -= count
        # Jobs left behind keep the group's first arrival time: they have waited that long already.
        if not group.items:
            del self._groups[params]
        return batch

    def _send(self, params: Hashable, items: list[_Pending]) -> None:
        try:
            self._call_and_split(params, items)
        finally:
            self._slots.release()

    def _call_and_split(self, params: Hashable, items: list[_Pending]) -> None:
        inputs = [value for item in items for value in item.inputs]
        started = time.monotonic()
        try:
            results = self.call(inputs, params)
        except EngineError as exc:
            if not exc.transient and len(items) > 1:
                # One job's input may have caused the rejection: retry each alone so
                # the others still succeed.
                logger.info(
                    "%s batch of %d requests rejected (%s); retrying them one by one",
                    self.name,
                    len(items),
                    exc.message,
                )
                for item in items:
                    self._call_and_split(params, [item])
                return
            for item in items:
                item.future.set_exception(exc)
            return
        except Exception as exc:
            logger.exception("%s batch of %d requests failed unexpectedly", self.name, len(items))
            for item in items:
                item.future.set_exception(exc)
            return

        logger.info(
            "%s batch sent: requests=%d inputs=%d engine_ms=%.1f",
            self.name,
            len(items),
            len(inputs),
            (time.monotonic() - started) * 1000,
        )
        offset = 0
        for item in items:
            item.future.set_result(results[offset : offset + len(item.inputs)])
            offset += len(item.inputs)
