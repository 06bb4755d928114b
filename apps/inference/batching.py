"""Gathering jobs from worker threads into engine calls.

Each Dramatiq worker thread holds one leased job and blocks on a Future while the
engine's Batcher gathers jobs with an equal batch key. A call leaves when the gathered
items reach ``batch_size``, ``max_wait_ms`` after the first of them arrived, or at once
while the engine has no call of this process in flight (waiting then only adds latency).
At most ``max_concurrent_calls`` calls run at once; meanwhile new jobs keep gathering, so
batches grow with load.

While a job waits here the batcher renews its lease, because the worker is alive and no
engine call has started. When its call leaves, the lease is set to cover that call and
is not renewed again, so a call that hangs loses the job to the sweeper. A job whose lease
renewal fails (cancelled, or taken over) is dropped before its call leaves.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext_noop

from . import circuit, queues, stats
from .engines.abort import CallAbortedError, abort_when_unwanted
from .engines.errors import EngineError

logger = logging.getLogger(__name__)

# call(items, batch_key) -> one output per item, in order
EngineCall = Callable[[list, Hashable], list]


class LeaseLostError(Exception):
    """The job was cancelled or its lease passed to another worker before its call left."""


class DeadlinePassedError(Exception):
    """The job's deadline passed while it waited for its call, so it was not sent."""


@dataclass(frozen=True)
class BatchOutcome:
    outputs: list
    batch_wait_ms: float
    engine_ms: float


@dataclass
class _Pending:
    req_id: str
    token: str
    items: list
    submitted_at: float
    deadline_at: float
    future: Future = field(default_factory=Future)
    # When the lease set for the call this job is in ends.
    call_lease_until: float = 0.0


@dataclass
class _Group:
    first_at: float
    entries: list[_Pending] = field(default_factory=list)
    item_count: int = 0


class Batcher:
    def __init__(
        self,
        name: str,
        call: EngineCall,
        *,
        batch_size: int,
        max_wait_ms: int,
        max_concurrent_calls: int,
        timeout_s: float,
        request_size: int,
    ):
        self.name = name
        self.call = call
        self.batch_size = max(1, batch_size)
        self.max_wait_s = max(0, max_wait_ms) / 1000
        self.max_concurrent_calls = max(1, max_concurrent_calls)
        self.timeout_s = timeout_s
        # Items one HTTP request carries; a call of more items takes several requests in a row.
        self.request_size = max(1, request_size)
        self._groups: dict[Hashable, _Group] = {}
        self._in_flight = 0
        self._condition = threading.Condition()
        self._renewed_at = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrent_calls, thread_name_prefix=f"{name}-call")
        self._thread = threading.Thread(target=self._run, name=f"{name}-batcher", daemon=True)
        self._thread.start()

    def submit(self, req_id: str, token: str, items: list, batch_key: Hashable, deadline_at: float) -> Future:
        """Queue one leased job's items.

        The Future gets a BatchOutcome, or raises EngineError, LeaseLostError or DeadlinePassedError.
        """
        pending = _Pending(req_id, token, list(items), time.monotonic(), deadline_at)
        with self._condition:
            group = self._groups.get(batch_key)
            if group is None:
                group = self._groups[batch_key] = _Group(first_at=pending.submitted_at)
            group.entries.append(pending)
            group.item_count += len(pending.items)
            self._condition.notify()
        return pending.future

    def call_lease_s(self, item_count: int) -> float:
        """Seconds a lease must last to cover one call of ``item_count`` items."""
        requests = math.ceil(max(1, item_count) / self.request_size)
        return self.timeout_s * requests + settings.REDGX_JOB_LEASE_MARGIN_S

    def _run(self) -> None:
        while True:
            batch_key, entries = self._next_batch()
            if entries:
                self._pool.submit(self._send, batch_key, entries)

    def _next_batch(self) -> tuple[Hashable, list[_Pending]]:
        with self._condition:
            while True:
                now = time.monotonic()
                if now - self._renewed_at >= settings.REDGX_SWEEP_INTERVAL_S:
                    break
                if self._in_flight < self.max_concurrent_calls:
                    ready = self._ready_group(now)
                    if ready is not None:
                        self._in_flight += 1
                        return ready, self._take(ready)
                self._condition.wait(timeout=self._time_to_next_event(now))
        self._renew_waiting()
        return None, []

    def _ready_group(self, now: float) -> Hashable | None:
        for batch_key, group in self._groups.items():
            if self._in_flight == 0 or group.item_count >= self.batch_size or now - group.first_at >= self.max_wait_s:
                return batch_key
        return None

    def _time_to_next_event(self, now: float) -> float:
        next_event = self._renewed_at + settings.REDGX_SWEEP_INTERVAL_S
        if self._groups and self._in_flight < self.max_concurrent_calls:
            next_event = min(next_event, min(group.first_at + self.max_wait_s for group in self._groups.values()))
        return max(0.0, next_event - now)

    def _take(self, batch_key: Hashable) -> list[_Pending]:
        """Remove up to batch_size items of whole jobs from a group (at least one job)."""
        group = self._groups[batch_key]
        batch, count = [], 0
        while group.entries and (not batch or count + len(group.entries[0].items) <= self.batch_size):
            entry = group.entries.pop(0)
            batch.append(entry)
            count += len(entry.items)
        group.item_count -= count
        # Jobs left behind keep the group's first arrival time: they have waited that long already.
        if not group.entries:
            del self._groups[batch_key]
        return batch

    def _renew_waiting(self) -> None:
        """Extend the leases of jobs still gathering, and drop those this worker no longer holds."""
        with self._condition:
            waiting = [entry for group in self._groups.values() for entry in group.entries]
            self._renewed_at = time.monotonic()
        if not waiting:
            return
        until = time.time() + self.call_lease_s(self.batch_size)
        try:
            held = queues.extend_leases([(entry.req_id, entry.token) for entry in waiting], until)
        except redis.exceptions.RedisError as exc:
            logger.warning("%s could not renew %d leases: %s", self.name, len(waiting), exc)
            return
        lost = {id(entry) for entry, ok in zip(waiting, held, strict=True) if not ok}
        if lost:
            self._drop(lost)

    def _drop(self, lost: set[int]) -> None:
        with self._condition:
            for batch_key in list(self._groups):
                group = self._groups[batch_key]
                for entry in [entry for entry in group.entries if id(entry) in lost]:
                    group.entries.remove(entry)
                    group.item_count -= len(entry.items)
                    entry.future.set_exception(LeaseLostError(entry.req_id))
                if not group.entries:
                    del self._groups[batch_key]

    def _send(self, batch_key: Hashable, entries: list[_Pending]) -> None:
        try:
            entries = self._claim(entries)
            if entries:
                self._call_and_split(batch_key, entries)
        except Exception as exc:
            logger.exception("%s batch of %d requests failed unexpectedly", self.name, len(entries))
            for entry in entries:
                if not entry.future.done():
                    entry.future.set_exception(exc)
        finally:
            with self._condition:
                self._in_flight -= 1
                self._condition.notify()

    def _claim(self, entries: list[_Pending]) -> list[_Pending]:
        """Set each job's lease to cover this call; return the jobs still held and within their deadline."""
        now = time.time()
        late = [entry for entry in entries if entry.deadline_at <= now]
        for entry in late:
            entry.future.set_exception(DeadlinePassedError(entry.req_id))
        entries = [entry for entry in entries if entry.deadline_at > now]
        if not entries:
            return []
        until = now + self.call_lease_s(sum(len(entry.items) for entry in entries))
        held = queues.extend_leases([(entry.req_id, entry.token) for entry in entries], until)
        for entry in entries:
            entry.call_lease_until = until
        kept = []
        for entry, ok in zip(entries, held, strict=True):
            if ok:
                kept.append(entry)
            else:
                entry.future.set_exception(LeaseLostError(entry.req_id))
        return kept

    @staticmethod
    def _any_still_held(entries: list[_Pending]) -> bool:
        """Return True while this worker still holds the lease of some job of the call.

        Re-setting each lease to the end the call already has checks the holder without
        lengthening the lease. A Redis error counts as held, so the call goes on.
        """
        holders = [(entry.req_id, entry.token) for entry in entries]
        try:
            return any(queues.extend_leases(holders, entries[0].call_lease_until))
        except redis.exceptions.RedisError as exc:
            logger.warning("Could not check the leases of a running call: %s", exc)
            return True

    def _call_and_split(self, batch_key: Hashable, entries: list[_Pending]) -> None:
        items = [item for entry in entries for item in entry.items]
        started = time.monotonic()
        try:
            with abort_when_unwanted(lambda: self._any_still_held(entries)):
                outputs = self.call(items, batch_key)
        except CallAbortedError:
            logger.info("%s call of %d requests stopped: none of its jobs is held any more", self.name, len(entries))
            for entry in entries:
                entry.future.set_exception(LeaseLostError(entry.req_id))
            return
        except EngineError as exc:
            if exc.transient:
                circuit.record_failure(self.name)
            elif len(entries) > 1:
                # One job's input may have caused the rejection: send each alone so the
                # others still succeed and the bad input fails by itself.
                logger.info(
                    "%s batch of %d requests rejected (%s); sending them one by one",
                    self.name,
                    len(entries),
                    exc.message,
                )
                for entry in entries:
                    self._call_and_split(batch_key, [entry])
                return
            for entry in entries:
                entry.future.set_exception(exc)
            return

        engine_ms = (time.monotonic() - started) * 1000
        circuit.record_success(self.name)
        stats.record_batch(self.name, len(items), engine_ms)
        logger.info(
            "%s batch sent: requests=%d inputs=%d engine_ms=%.1f", self.name, len(entries), len(items), engine_ms
        )
        if len(outputs) != len(items):
            error = EngineError(
                gettext_noop("The engine returned %(got)d results for %(sent)d inputs."),
                transient=True,
                code="engine_bad_response",
                params={"got": len(outputs), "sent": len(items)},
            )
            for entry in entries:
                entry.future.set_exception(error)
            return
        offset = 0
        for entry in entries:
            batch_wait_ms = (started - entry.submitted_at) * 1000
            entry.future.set_result(
                BatchOutcome(outputs[offset : offset + len(entry.items)], round(batch_wait_ms, 1), round(engine_ms, 1))
            )
            offset += len(entry.items)
