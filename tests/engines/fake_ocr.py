"""A fake engine for RedGX's JSON OCR protocol (POST /ocr), for tests and bench/.

It serves POST /ocr and GET /health as docs/engine-protocols.md describes. The text it
"reads" is deterministic: a PNG built by make_png carries its text in a ``tEXt`` chunk
with the keyword ``ocr-text``, and any other document reads as a hash of its bytes (see
fake_document_text). A document whose bytes are not the declared content type, or that
is not valid base64, fails with 422 ``bad_document``. Extra switch beside FakeEngine's:

- reject_marker: a PNG text containing it fails with 422 ``bad_document``.

    python -m tests.engines.fake_ocr --port 8085
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import zlib

from .fake_base import FakeEngine, LockedSwitch, Rejected, Reply, Request, decode_json_body, run_standalone

TEXT_KEYWORD = b"ocr-text"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# US Letter in PDF points, used as the size of every PDF page.
PDF_PAGE_SIZE = (612, 792)
# Images other than PNG are not parsed for their size.
DEFAULT_IMAGE_SIZE = (100, 100)
LINE_HEIGHT = 20
_MAGIC = {
    "image/png": lambda data: data.startswith(PNG_SIGNATURE),
    "image/jpeg": lambda data: data.startswith(b"\xff\xd8\xff"),
    "image/webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "image/tiff": lambda data: data[:4] in (b"II*\x00", b"MM\x00*"),
    "application/pdf": lambda data: b"%PDF-" in data[:1024],
}
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def make_png(text: str = "", width: int = 4, height: int = 2) -> bytes:
    """Build a valid grayscale PNG whose tEXt chunk contains text for the fake to read back."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff" * width for _ in range(height)))
    text_chunk = chunk(b"tEXt", TEXT_KEYWORD + b"\x00" + text.encode("latin-1")) if text else b""
    return PNG_SIGNATURE + chunk(b"IHDR", header) + text_chunk + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def make_pdf(page_count: int = 1) -> bytes:
    """Build a small PDF-like document with page_count page objects (enough for the fake, not a reader)."""
    pages = b"".join(f"{n + 3} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n".encode() for n in range(page_count))
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages >> endobj\n"
        + pages
        + b"%%EOF\n"
    )


def fake_document_text(document: bytes, page: int = 1) -> str:
    """The text the fake reads from a document without a tEXt chunk: "page N" and a hash of its bytes."""
    return f"page {page} {hashlib.sha256(document).hexdigest()[:12]}"


def expected_text(pages: list[list[str]]) -> str:
    """The protocol's ``text``: lines joined by newlines, pages separated by a blank line."""
    return "\n\n".join("\n".join(lines) for lines in pages)


def png_size_and_text(document: bytes) -> tuple[int, int, str | None]:
    """Return (width, height, tEXt text or None) of a PNG, or raise Rejected for a broken one."""
    position = len(PNG_SIGNATURE)
    width = height = None
    text = None
    while position + 8 <= len(document):
        length, kind = struct.unpack(">I4s", document[position : position + 8])
        data = document[position + 8 : position + 8 + length]
        if len(data) != length:
            break
        if kind == b"IHDR" and length == 13:
            width, height = struct.unpack(">II", data[:8])
        elif kind == b"tEXt" and data.startswith(TEXT_KEYWORD + b"\x00"):
            text = data[len(TEXT_KEYWORD) + 1 :].decode("latin-1")
        elif kind == b"IEND":
            break
        position += 12 + length
    if width is None or height is None:
        raise Rejected(422, "the PNG has no valid IHDR chunk", "bad_document")
    return width, height, text


class FakeOcrEngine(FakeEngine):
    kind = "ocr"

    reject_marker = LockedSwitch()

    def apply_defaults(self) -> None:
        self.reject_marker = None

    def route(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/ocr":
            return self._ocr(request)
        return super().route(request)

    def _ocr(self, request: Request) -> Reply:
        body = decode_json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("document"), str):
            self.begin_call(request, 0)
            raise Rejected(400, "document must be a base64 string", "bad_document")
        content_type = body.get("content_type")
        self.begin_call(request, 1, {"content_type": content_type, "languages": body.get("languages")})

        try:
            document = base64.b64decode(body["document"], validate=True)
        except (binascii.Error, ValueError):
            raise Rejected(422, "document is not valid base64", "bad_document") from None
        check = _MAGIC.get(content_type)
        if check is None:
            raise Rejected(422, f"unsupported content_type {content_type!r}", "bad_document")
        if not check(document):
            raise Rejected(422, f"the document is not a valid {content_type} file", "bad_document")

        pages = self._read_pages(document, content_type)
        text = expected_text([[line["text"] for line in page["lines"]] for page in pages])
        return Reply.json(200, {"pages": pages, "text": text})

    def _read_pages(self, document: bytes, content_type: str) -> list[dict]:
        if content_type == "application/pdf":
            count = max(1, len(_PDF_PAGE.findall(document)))
            width, height = PDF_PAGE_SIZE
            return [_page(n, width, height, [fake_document_text(document, n)]) for n in range(1, count + 1)]
        if content_type == "image/png":
            width, height, text = png_size_and_text(document)
        else:
            (width, height), text = DEFAULT_IMAGE_SIZE, None
        marker = self.reject_marker
        if marker is not None and text is not None and marker in text:
            raise Rejected(422, f"the document contains the rejected marker {marker!r}", "bad_document")
        lines = text.split("\n") if text else [fake_document_text(document)]
        return [_page(1, width, height, lines)]


def _page(number: int, width: int, height: int, lines: list[str]) -> dict:
    return {
        "page": number,
        "width": width,
        "height": height,
        "lines": [
            {
                "text": line,
                "confidence": 0.99,
                "box": [
                    [0, row * LINE_HEIGHT],
                    [width, row * LINE_HEIGHT],
                    [width, (row + 1) * LINE_HEIGHT],
                    [0, (row + 1) * LINE_HEIGHT],
                ],
            }
            for row, line in enumerate(lines)
        ],
    }


if __name__ == "__main__":
    run_standalone(FakeOcrEngine(), "Fake RedGX OCR engine")
