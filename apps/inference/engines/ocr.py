"""Client for RedGX's JSON OCR protocol (POST /ocr).

docs/engine-protocols.md describes the protocol. An item is the job's document as
stored by the ocr serializer (``document_base64``, ``content_type``). Each request sends
one document, and requests run concurrently up to ``max_concurrent_calls``. The output is
the engine's ``{"pages", "text"}`` after its shape is checked.
"""

import math

from .fanout import call_each
from .http import bad_response, check_health, client_for, post_json

OCR_PATH = "/ocr"


class OcrClient:
    max_batch_size = 1

    def __init__(
        self, base_url: str, timeout_s: float, *, connect_timeout_s: float | None = None, max_concurrent_calls: int = 2
    ):
        self.base_url = base_url
        self.http = client_for(base_url, timeout_s, connect_timeout_s)
        self.max_concurrent_calls = max(1, max_concurrent_calls)

    def health(self) -> bool:
        return check_health(self.http)

    def call(self, items: list[dict], batch_key: tuple) -> list[dict]:
        languages = dict(batch_key).get("languages")
        return call_each(items, lambda document: self.recognize(document, languages), self.max_concurrent_calls)

    def recognize(self, document: dict, languages: list[str] | tuple[str, ...] | None = None) -> dict:
        """Send one document and return its pages and text."""
        body = {"document": document["document_base64"], "content_type": document["content_type"]}
        if languages:
            body["languages"] = list(languages)
        reply = post_json(self.http, OCR_PATH, body, rejected_code="bad_document", too_large_code="document_too_large")
        if not isinstance(reply, dict) or not isinstance(reply.get("text"), str):
            raise bad_response(self.http, OCR_PATH, "no text")
        pages = reply.get("pages")
        if not isinstance(pages, list) or not all(_is_page(page) for page in pages):
            raise bad_response(self.http, OCR_PATH, "pages do not match the protocol")
        return {"pages": pages, "text": reply["text"]}


def _is_page(page) -> bool:
    if not isinstance(page, dict) or not isinstance(page.get("lines"), list):
        return False
    if not all(_is_int(page.get(key)) for key in ("page", "width", "height")):
        return False
    return all(_is_line(line) for line in page["lines"])


def _is_line(line) -> bool:
    if not isinstance(line, dict) or not isinstance(line.get("text"), str):
        return False
    confidence = line.get("confidence")
    if not _is_number(confidence):
        return False
    box = line.get("box")
    return (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(point, list) and len(point) == 2 and all(_is_number(v) for v in point) for point in box)
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
