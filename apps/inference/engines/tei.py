"""Client for engines that speak TEI's embedding protocol (POST /embed, GET /info).

The client reads /info once and splits every call so that no request exceeds the
engine's ``max_client_batch_size`` or the payload limit (TEI's ``--payload-limit``,
2,000,000 bytes by default). An engine restarted with a smaller limit answers 413: the
client then reads /info again, splits further and retries, so a batch-size 413 never
reaches the job. A 413 for a single input means that input is too long.
"""

import json
import logging
import math
import threading

from django.conf import settings

from .abort import check_still_wanted
from .errors import EngineError
from .http import bad_response, check_health, client_for, get_json, post_json

logger = logging.getLogger(__name__)

# Bytes of {"inputs":[],"normalize":false,"truncate":false} plus margin for the separators.
_BODY_OVERHEAD_BYTES = 64


class TeiClient:
    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        *,
        connect_timeout_s: float | None = None,
        max_batch_size: int = 32,
        payload_limit_bytes: int | None = None,
    ):
        self.base_url = base_url
        self.http = client_for(base_url, timeout_s, connect_timeout_s)
        # Items one call() takes from the batcher; each call is split further below.
        self.max_batch_size = max_batch_size
        if payload_limit_bytes is None:
            payload_limit_bytes = settings.REDGX_TEI_PAYLOAD_LIMIT_BYTES
        self.payload_limit_bytes = payload_limit_bytes
        self._client_batch_size: int | None = None
        self._info_lock = threading.Lock()

    def call(self, items: list[str], batch_key: tuple) -> list[list[float]]:
        params = dict(batch_key)
        return self.embed(items, normalize=params["normalize"], truncate=params["truncate"])

    def health(self) -> bool:
        return check_health(self.http)

    def embed(self, inputs: list[str], *, normalize: bool, truncate: bool) -> list[list[float]]:
        """Embed any number of inputs in as many requests as the engine's limits need."""
        vectors: list[list[float]] = []
        for index, chunk in enumerate(self._chunks(inputs, self.client_batch_size())):
            if index:
                check_still_wanted()
            vectors.extend(self._embed_chunk(chunk, normalize, truncate, info_refreshed=False))
        return vectors

    def client_batch_size(self, refresh: bool = False) -> int:
        """Return /info's max_client_batch_size, read once per client (again when refresh is set)."""
        with self._info_lock:
            if self._client_batch_size is None or refresh:
                self._client_batch_size = self._read_client_batch_size()
            return self._client_batch_size

    def _read_client_batch_size(self) -> int:
        try:
            info = get_json(self.http, "/info")
        except EngineError as exc:
            if exc.transient:
                raise
            # A TEI-compatible server without /info: the configured batch size is the only limit known.
            logger.warning(
                "Engine %s has no usable /info (%s); using %d", self.base_url, exc.message, self.max_batch_size
            )
            return self.max_batch_size
        size = info.get("max_client_batch_size") if isinstance(info, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise bad_response(self.http, "/info", "no positive integer max_client_batch_size")
        logger.info("Engine %s accepts up to %d inputs per call", self.base_url, size)
        return size

    def _chunks(self, inputs: list[str], batch_size: int) -> list[list[str]]:
        """Split inputs into runs of at most batch_size whose JSON body stays under the payload limit."""
        chunks: list[list[str]] = []
        current: list[str] = []
        current_bytes = _BODY_OVERHEAD_BYTES
        for text in inputs:
            size = len(json.dumps(text)) + 1
            if current and (len(current) >= batch_size or current_bytes + size > self.payload_limit_bytes):
                chunks.append(current)
                current, current_bytes = [], _BODY_OVERHEAD_BYTES
            current.append(text)
            current_bytes += size
        if current:
            chunks.append(current)
        return chunks

    def _embed_chunk(
        self, chunk: list[str], normalize: bool, truncate: bool, *, info_refreshed: bool
    ) -> list[list[float]]:
        try:
            reply = post_json(self.http, "/embed", {"inputs": chunk, "normalize": normalize, "truncate": truncate})
        except EngineError as exc:
            if exc.status != 413 or len(chunk) == 1:
                raise
            return self._resplit_after_413(chunk, normalize, truncate, info_refreshed)
        if not _is_vector_list(reply, len(chunk)):
            raise bad_response(self.http, "/embed", f"not {len(chunk)} finite vectors")
        return reply

    def _resplit_after_413(
        self, chunk: list[str], normalize: bool, truncate: bool, info_refreshed: bool
    ) -> list[list[float]]:
        """Retry a multi-input chunk the engine found too large, in smaller requests.

        The first 413 re-reads /info. When the new limit is below the chunk's size, the chunk
        is split to it. Otherwise the cause is the body size or one input, so the chunk is
        halved until the 413 stays with a single input.
        """
        batch_size = len(chunk) // 2 or 1
        if not info_refreshed:
            limit = self.client_batch_size(refresh=True)
            if limit < len(chunk):
                batch_size = limit
        logger.info(
            "Engine %s returned 413 for %d inputs; retrying in calls of %d", self.base_url, len(chunk), batch_size
        )
        vectors: list[list[float]] = []
        for start in range(0, len(chunk), batch_size):
            part = chunk[start : start + batch_size]
            vectors.extend(self._embed_chunk(part, normalize, truncate, info_refreshed=True))
        return vectors


def _is_vector_list(reply, expected: int) -> bool:
    if not isinstance(reply, list) or len(reply) != expected:
        return False
    for vector in reply:
        if not isinstance(vector, list) or not vector:
            return False
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
            return False
    return True
