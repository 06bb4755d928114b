"""The bounded send buffer of one WebSocket connection."""

import asyncio
from collections import deque
from dataclasses import dataclass

from .protocol import Frame


@dataclass(frozen=True, slots=True)
class CloseRequest:
    code: int
    reason: str


class Outbox:
    """Frames waiting to be sent to one client, at most ``max_frames`` and ``max_bytes``.

    ``put`` never waits, so the hub that fans messages out is never held up by a slow
    client. A put that would pass either bound is rejected and the caller closes the
    connection. A close request drops the frames still waiting, so memory is released at
    once, and it is the last item ``get`` returns.
    """

    def __init__(self, max_frames: int, max_bytes: int):
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: deque[Frame] = deque()
        self._bytes = 0
        self._close: CloseRequest | None = None
        self._ready = asyncio.Event()

    @property
    def closing(self) -> bool:
        return self._close is not None

    def put(self, frame: Frame) -> bool:
        """Queue a frame; return False if the outbox is closing or the frame does not fit."""
        if self._close is not None:
            return False
        if len(self._frames) >= self.max_frames or self._bytes + frame.size > self.max_bytes:
            return False
        self._frames.append(frame)
        self._bytes += frame.size
        self._ready.set()
        return True

    def close(self, code: int, reason: str) -> None:
        """Drop the waiting frames and make ``get`` return a close request; the first request wins."""
        if self._close is not None:
            return
        self._close = CloseRequest(code, reason)
        self._frames.clear()
        self._bytes = 0
        self._ready.set()

    async def get(self) -> Frame | CloseRequest:
        while not self._frames and self._close is None:
            self._ready.clear()
            await self._ready.wait()
        if self._close is not None:
            return self._close
        frame = self._frames.popleft()
        self._bytes -= frame.size
        return frame
