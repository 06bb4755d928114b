"""Client for RedGX's JSON translation protocol (POST /translate, GET /info).

docs/engine-protocols.md describes the protocol. The client reads /info once, fails a
language pair the engine does not list with a permanent ``unsupported_pair`` error
before any call, and splits texts into requests of at most /info's ``max_batch_size``.
After a 413 for several texts it reads /info again and retries with the new limit, once.
"""

import logging
import threading

from django.utils.translation import gettext_noop

from .abort import check_still_wanted
from .errors import EngineError
from .http import bad_response, check_health, client_for, get_json, post_json

logger = logging.getLogger(__name__)

TRANSLATE_PATH = "/translate"


class TranslationClient:
    def __init__(
        self, base_url: str, timeout_s: float, *, connect_timeout_s: float | None = None, max_batch_size: int = 32
    ):
        self.base_url = base_url
        self.http = client_for(base_url, timeout_s, connect_timeout_s)
        # Texts one call() takes from the batcher; each call is split further to /info's limit.
        self.max_batch_size = max_batch_size
        self._info: tuple[frozenset[tuple[str, str]], int] | None = None
        self._info_lock = threading.Lock()

    def health(self) -> bool:
        return check_health(self.http)

    def call(self, items: list[str], batch_key: tuple) -> list[str]:
        params = dict(batch_key)
        return self.translate(items, source=params["source"], target=params["target"])

    def info(self, refresh: bool = False) -> tuple[frozenset[tuple[str, str]], int]:
        """Return the engine's (language pairs, max_batch_size), read once per client."""
        with self._info_lock:
            if self._info is None or refresh:
                self._info = self._read_info()
            return self._info

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        pairs, batch_size = self.info()
        if (source, target) not in pairs:
            raise EngineError(
                gettext_noop("The engine does not translate from %(source)s to %(target)s."),
                params={"source": source, "target": target},
                transient=False,
                code="unsupported_pair",
            )
        translations: list[str] = []
        for start in range(0, len(texts), batch_size):
            if start:
                check_still_wanted()
            translations.extend(self._translate_chunk(texts[start : start + batch_size], source, target))
        return translations

    def _translate_chunk(self, chunk: list[str], source: str, target: str, info_refreshed: bool = False) -> list[str]:
        try:
            reply = post_json(self.http, TRANSLATE_PATH, {"texts": chunk, "source": source, "target": target})
        except EngineError as exc:
            if exc.status != 413 or len(chunk) == 1 or info_refreshed:
                raise
            # The engine may have restarted with a smaller max_batch_size than /info reported.
            _pairs, batch_size = self.info(refresh=True)
            if batch_size >= len(chunk):
                raise
            logger.info(
                "Engine %s returned 413 for %d texts; retrying in calls of %d", self.base_url, len(chunk), batch_size
            )
            return [
                text
                for start in range(0, len(chunk), batch_size)
                for text in self._translate_chunk(
                    chunk[start : start + batch_size], source, target, info_refreshed=True
                )
            ]
        result = reply.get("translations") if isinstance(reply, dict) else None
        if not isinstance(result, list) or len(result) != len(chunk):
            raise bad_response(self.http, TRANSLATE_PATH, f"not {len(chunk)} translations")
        if not all(isinstance(text, str) for text in result):
            raise bad_response(self.http, TRANSLATE_PATH, "a translation that is not a string")
        return result

    def _read_info(self) -> tuple[frozenset[tuple[str, str]], int]:
        info = get_json(self.http, "/info")
        if not isinstance(info, dict):
            raise bad_response(self.http, "/info", "not an object")
        pairs = info.get("pairs")
        size = info.get("max_batch_size")
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(code, str) for code in pair) for pair in pairs
        ):
            raise bad_response(self.http, "/info", "pairs is not a list of [source, target]")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise bad_response(self.http, "/info", "no positive integer max_batch_size")
        logger.info("Engine %s translates %d pairs, up to %d texts per call", self.base_url, len(pairs), size)
        return frozenset((source, target) for source, target in pairs), size
