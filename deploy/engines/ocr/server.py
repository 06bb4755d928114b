"""OCR engine that reads images and PDFs with RapidOCR (PP-OCRv4 ONNX models) over the redgx_ocr protocol.

Routes: POST /ocr, GET /health. README.md beside this file documents the protocol, settings and errors.
Run it with its own venv: `.venv-engine-ocr/bin/python deploy/engines/ocr/server.py`.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
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

# The magic bytes that start each accepted content type. TIFF has a little- and a big-endian form,
# and WebP is a RIFF container whose format id sits at bytes 8..12.
CONTENT_TYPE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "application/pdf": (b"%PDF-",),
}
# The bundled PP-OCR models are the Chinese-and-English ("ch") ones, so they read these languages.
SUPPORTED_LANGUAGES = frozenset({"en", "zh"})


@dataclass(frozen=True)
class Settings(EngineSettings):
    port: int = 8084
    max_body_bytes: int = 20_000_000
    max_pages: int = 20
    max_pixels: int = 40_000_000
    pdf_dpi: int = 150
    onnx_threads: int = 2


def bad_document(message: str) -> EngineError:
    return EngineError(422, "bad_document", message)


@dataclass(frozen=True)
class OcrRequest:
    document: bytes
    content_type: str


def parse_ocr_request(payload: dict[str, Any]) -> OcrRequest:
    """Check the fields of a /ocr body. Raise EngineError 400 for a bad field, 422 for an unsupported language."""
    content_type = payload.get("content_type")
    if content_type not in CONTENT_TYPE_SIGNATURES:
        accepted = ", ".join(CONTENT_TYPE_SIGNATURES)
        raise bad_request(f"`content_type` must be one of {accepted}, got {content_type!r}")

    encoded = payload.get("document")
    if not isinstance(encoded, str) or not encoded:
        raise bad_request("`document` must be a non-empty base64 string")
    try:
        document = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("`document` is not valid base64") from None

    languages = payload.get("languages")
    if languages is not None:
        if not isinstance(languages, list) or not all(isinstance(code, str) for code in languages):
            raise bad_request("`languages` must be a list of language codes")
        unsupported = sorted({code for code in languages if code.split("-", 1)[0].lower() not in SUPPORTED_LANGUAGES})
        if unsupported:
            raise EngineError(
                422,
                "unsupported_language",
                f"languages {unsupported} are not supported: this engine reads {sorted(SUPPORTED_LANGUAGES)}",
            )
    return OcrRequest(document=document, content_type=content_type)


class OcrBackend:
    """A pool of RapidOCR instances, one per model thread, and the PDF renderer."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._readers: queue.Queue[Any] = queue.Queue()
        # PDFium is not thread-safe (pypdfium2's documentation says so), so one lock guards all its calls.
        self._pdfium_lock = threading.Lock()

    def load(self) -> None:
        from PIL import Image
        from rapidocr_onnxruntime import RapidOCR

        # Pillow raises DecompressionBombError above twice this many pixels and only warns between
        # one and two times, so images past the limit are rejected in _check_pixels instead.
        Image.MAX_IMAGE_PIXELS = self._settings.max_pixels
        for _ in range(self._settings.max_concurrent_calls):
            self._readers.put(RapidOCR(intra_op_num_threads=self._settings.onnx_threads))

    def recognize(self, ocr_request: OcrRequest) -> dict[str, Any]:
        """Read every page of the document. Raise EngineError 413 or 422 for documents it cannot read."""
        pages = []
        reader = self._readers.get()
        try:
            for number, image in enumerate(self._page_images(ocr_request), start=1):
                started = time.perf_counter()
                result, _elapsed = reader(image)
                pages.append(
                    {
                        "page": number,
                        "width": image.width,
                        "height": image.height,
                        "lines": [
                            {"text": text, "confidence": round(float(score), 4), "box": [[x, y] for x, y in box]}
                            for box, text, score in (result or [])
                        ],
                    }
                )
                logger.debug("Read page %d in %.2f s", number, time.perf_counter() - started)
        finally:
            self._readers.put(reader)
        text = "\n\n".join("\n".join(line["text"] for line in page["lines"]) for page in pages)
        return {"pages": pages, "text": text}

    def _page_images(self, ocr_request: OcrRequest) -> Iterator[Any]:
        document = ocr_request.document
        if not document.startswith(CONTENT_TYPE_SIGNATURES[ocr_request.content_type]) or (
            ocr_request.content_type == "image/webp" and document[8:12] != b"WEBP"
        ):
            raise bad_document(f"the document bytes are not {ocr_request.content_type}")
        if ocr_request.content_type == "application/pdf":
            yield from self._pdf_pages(document)
        else:
            yield from self._image_frames(document)

    def _image_frames(self, document: bytes) -> Iterator[Any]:
        from PIL import Image, ImageSequence, UnidentifiedImageError

        try:
            image = Image.open(io.BytesIO(document))
            # Each frame of a multi-page TIFF is a page. Other formats give their first frame only,
            # because an animated WebP is not a document.
            if image.format == "TIFF":
                frame_count = getattr(image, "n_frames", 1)
                if frame_count > self._settings.max_pages:
                    raise self._too_many_pages(frame_count)
                frames = ImageSequence.Iterator(image)
            else:
                frames = [image]
            for frame in frames:
                self._check_pixels(frame.width, frame.height)
                yield frame.convert("RGB")
        except Image.DecompressionBombError:
            # Pillow raises this past twice MAX_IMAGE_PIXELS, before _check_pixels sees the size.
            raise self._too_many_pixels(image_size=None) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise bad_document(f"the image cannot be decoded: {error}") from None

    def _pdf_pages(self, document: bytes) -> Iterator[Any]:
        import pypdfium2

        scale = self._settings.pdf_dpi / 72  # PDF user space has 72 units per inch
        with self._pdfium_lock:
            try:
                pdf = pypdfium2.PdfDocument(document)
            except pypdfium2.PdfiumError as error:
                raise bad_document(f"the PDF cannot be opened: {error}") from None
        try:
            page_count = len(pdf)
            if page_count == 0:
                raise bad_document("the PDF has no pages")
            if page_count > self._settings.max_pages:
                raise self._too_many_pages(page_count)
            for index in range(page_count):
                with self._pdfium_lock:
                    page = pdf[index]
                    width_pt, height_pt = page.get_size()
                    self._check_pixels(round(width_pt * scale), round(height_pt * scale))
                    try:
                        image = page.render(scale=scale).to_pil().convert("RGB")
                    except pypdfium2.PdfiumError as error:
                        raise bad_document(f"page {index + 1} of the PDF cannot be rendered: {error}") from None
                    finally:
                        page.close()
                yield image
        finally:
            with self._pdfium_lock:
                pdf.close()

    def _check_pixels(self, width: int, height: int) -> None:
        if width * height > self._settings.max_pixels:
            raise self._too_many_pixels(image_size=(width, height))

    def _too_many_pixels(self, image_size: tuple[int, int] | None) -> EngineError:
        page = "a page" if image_size is None else f"a page of {image_size[0]}x{image_size[1]} pixels"
        return EngineError(
            413,
            "payload_too_large",
            f"{page} is larger than the limit of {self._settings.max_pixels} pixels (ENGINE_MAX_PIXELS)",
        )

    def _too_many_pages(self, page_count: int) -> EngineError:
        return EngineError(
            413,
            "payload_too_large",
            f"the document has {page_count} pages, more than the limit of {self._settings.max_pages} "
            "(ENGINE_MAX_PAGES)",
        )


def build_app(settings: Settings, on_load_failure: Callable[[], None]) -> Starlette:
    host = ModelHost("ocr", settings.max_concurrent_calls, settings.max_queued_calls)
    backend = OcrBackend(settings)

    async def ocr(request: Request) -> Response:
        host.check_ready()
        payload = await serving.read_json_object(request, settings.max_body_bytes)
        ocr_request = parse_ocr_request(payload)
        started = time.perf_counter()
        result = await host.call(backend.recognize, ocr_request)
        logger.info(
            "Read %d pages (%s, %d bytes) in %.2f s",
            len(result["pages"]),
            ocr_request.content_type,
            len(ocr_request.document),
            time.perf_counter() - started,
        )
        return JSONResponse(result)

    routes = [serving.route("POST", "/ocr", ocr)]
    return serving.create_app(host, backend.load, routes, on_load_failure)


def main() -> int:
    return serving.run(Settings, build_app)


if __name__ == "__main__":
    sys.exit(main())
