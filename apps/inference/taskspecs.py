"""What each inference task needs from the broker, in one place per task.

The submit view validates a body with the task's serializer and stores the result as the
job payload. The worker asks the task which jobs may share an engine call (``batch_key``),
which items one job sends (``inputs``), and how the engine's outputs become the job's
result (``result``). The engine client for the endpoint's protocol does the HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from rest_framework.serializers import Serializer

from .engines.registry import EngineConfig


class EngineClient(Protocol):
    """One engine endpoint, as a worker calls it.

    ``call`` sends items that share ``batch_key`` and returns one output per item, in
    order, or raises EngineError for the whole call (the batcher then splits a rejected
    batch until the bad item fails alone). A client splits a call into several requests
    itself when the engine has a smaller limit than the batch.
    """

    # Items one engine request carries at most; 1 for engines that batch internally and
    # take one request per item (chat, transcription, OCR).
    max_batch_size: int

    def call(self, items: list, batch_key: Hashable) -> list: ...

    def health(self) -> bool: ...


@dataclass(frozen=True)
class TaskSpec:
    name: str
    serializer: type[Serializer]
    # Engine protocols that can serve this task (EngineConfig.protocol values).
    protocols: tuple[str, ...]
    # payload -> key; jobs with equal keys (and the same engine) may share an engine call.
    batch_key: Callable[[dict], Hashable]
    # payload -> the items this job sends to the engine.
    inputs: Callable[[dict], list]
    # (payload, outputs for this job's items, engine) -> the job's result body.
    result: Callable[[dict, list, EngineConfig], dict]
    # engine -> a client for its protocol.
    make_client: Callable[[EngineConfig], EngineClient]
