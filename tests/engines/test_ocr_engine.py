"""End-to-end tests of deploy/engines/ocr/server.py with RapidOCR's bundled PP-OCR models.

The server runs from .venv-engine-ocr (`make engine-venv-ocr`) on a free loopback port. The test
documents are drawn here with DejaVu Sans, or Pillow's built-in font where DejaVu is not installed.
"""

import base64
import concurrent.futures
import io

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from .reference_support import assert_health_503_before_200, start_reference_engine

pytestmark = pytest.mark.reference_engines

MAX_PAGES = 2
MAX_PIXELS = 3_000_000
MAX_BODY_BYTES = 1_000_000
# With one model thread and one queue slot, the engine takes two calls at a time.
MAX_QUEUED_CALLS = 1


@pytest.fixture(scope="module")
def engine():
    running = start_reference_engine(
        "ocr",
        ENGINE_MAX_PAGES=str(MAX_PAGES),
        ENGINE_MAX_PIXELS=str(MAX_PIXELS),
        ENGINE_MAX_BODY_BYTES=str(MAX_BODY_BYTES),
        ENGINE_MAX_CONCURRENT_CALLS="1",
        ENGINE_MAX_QUEUED_CALLS=str(MAX_QUEUED_CALLS),
    )
    yield running
    running.process.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=60.0) as http_client:
        yield http_client


def draw_page(lines: list[str], size: tuple[int, int] = (800, 220)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 40)
    except OSError:
        # The built-in font's narrow spaces make the recognizer join some words, which normalized() ignores.
        font = ImageFont.load_default(size=40)
    for number, line in enumerate(lines):
        draw.text((20, 30 + 90 * number), line, fill="black", font=font)
    return image


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def pdf_of(pages: list[Image.Image]) -> bytes:
    return encode(pages[0], "PDF", save_all=True, append_images=pages[1:])


def ocr(client, engine, document: bytes, content_type: str, **fields) -> httpx.Response:
    body = {"document": base64.b64encode(document).decode(), "content_type": content_type, **fields}
    return client.post(f"{engine.url}/ocr", json=body)


def normalized(text: str) -> str:
    """Lowercase text without whitespace or colons, so a line split or a missed space still compares equal."""
    return "".join(text.lower().replace(":", "").split())


def test_health_503_until_model_loaded(engine):
    assert_health_503_before_200(engine)


def test_png_lines_are_read(engine, client):
    png = encode(draw_page(["Hello RedGX engine", "Order 12345 shipped"]), "PNG")

    response = ocr(client, engine, png, "image/png", languages=["en"])

    assert response.status_code == 200
    result = response.json()
    (page,) = result["pages"]
    assert page["page"] == 1
    assert (page["width"], page["height"]) == (800, 220)
    assert "helloredgxengine" in normalized(result["text"])
    assert "order12345shipped" in normalized(result["text"])
    assert result["text"] == "\n".join(line["text"] for line in page["lines"])
    for line in page["lines"]:
        assert 0 < line["confidence"] <= 1
        assert len(line["box"]) == 4
        assert all(0 <= x <= 800 and 0 <= y <= 220 for x, y in line["box"])


def test_jpeg_is_read(engine, client):
    jpeg = encode(draw_page(["Quarterly report"]), "JPEG", quality=90)

    response = ocr(client, engine, jpeg, "image/jpeg")

    assert response.status_code == 200
    assert "quarterlyreport" in normalized(response.json()["text"])


def test_webp_is_read(engine, client):
    webp = encode(draw_page(["Quarterly report"]), "WEBP", lossless=True)

    response = ocr(client, engine, webp, "image/webp")

    assert response.status_code == 200
    assert "quarterlyreport" in normalized(response.json()["text"])


def test_tiff_frames_are_pages(engine, client):
    first, second = draw_page(["First page text"]), draw_page(["Second page text"])
    tiff = encode(first, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")

    response = ocr(client, engine, tiff, "image/tiff")

    assert response.status_code == 200
    result = response.json()
    assert [page["page"] for page in result["pages"]] == [1, 2]
    assert "firstpagetext" in normalized(result["pages"][0]["lines"][0]["text"])
    assert "secondpagetext" in normalized(result["pages"][1]["lines"][0]["text"])


def test_one_page_pdf_is_read(engine, client):
    pdf = pdf_of([draw_page(["Hello RedGX engine", "Order 12345 shipped"])])

    response = ocr(client, engine, pdf, "application/pdf")

    assert response.status_code == 200
    result = response.json()
    assert [page["page"] for page in result["pages"]] == [1]
    assert "helloredgxengine" in normalized(result["text"])
    assert "order12345shipped" in normalized(result["text"])


def test_pdf_pages_are_separated_by_blank_line(engine, client):
    pdf = pdf_of([draw_page(["First page text"]), draw_page(["Second page text"])])

    response = ocr(client, engine, pdf, "application/pdf")

    assert response.status_code == 200
    result = response.json()
    assert [page["page"] for page in result["pages"]] == [1, 2]
    first, second = result["text"].split("\n\n")
    assert "firstpagetext" in normalized(first)
    assert "secondpagetext" in normalized(second)


def test_undecodable_documents_return_422(engine, client):
    png = encode(draw_page(["x"]), "PNG")
    cases = [
        (b"not an image at all", "image/png"),
        (png[:60], "image/png"),
        (png, "image/jpeg"),
        (b"%PDF-1.7\n garbage that is no PDF", "application/pdf"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "image/webp"),
    ]
    for document, content_type in cases:
        response = ocr(client, engine, document, content_type)

        assert response.status_code == 422, (document[:12], content_type)
        assert response.json()["error_type"] == "bad_document", (document[:12], content_type)


def test_bad_fields_return_400(engine, client):
    png = base64.b64encode(encode(draw_page(["x"]), "PNG")).decode()
    cases = [
        {"document": "not base64!!", "content_type": "image/png"},
        {"document": "", "content_type": "image/png"},
        {"content_type": "image/png"},
        {"document": png, "content_type": "image/gif"},
        {"document": png},
        {"document": png, "content_type": "image/png", "languages": "en"},
    ]
    for body in cases:
        response = client.post(f"{engine.url}/ocr", json=body)

        assert response.status_code == 400, body
        assert response.json()["error_type"] == "bad_request", body


def test_unsupported_language_returns_422(engine, client):
    response = ocr(client, engine, encode(draw_page(["x"]), "PNG"), "image/png", languages=["en", "ko"])

    assert response.status_code == 422
    assert response.json()["error_type"] == "unsupported_language"
    assert "['ko']" in response.json()["error"]


def test_too_many_pages_returns_413(engine, client):
    pdf = pdf_of([draw_page([f"Page {number}"]) for number in range(MAX_PAGES + 1)])

    response = ocr(client, engine, pdf, "application/pdf")

    assert response.status_code == 413
    assert response.json() == {
        "error": f"the document has {MAX_PAGES + 1} pages, more than the limit of {MAX_PAGES} (ENGINE_MAX_PAGES)",
        "error_type": "payload_too_large",
    }


def test_too_many_pixels_returns_413(engine, client):
    # Pillow itself rejects images over twice its pixel limit when it opens them, and the engine
    # checks the size of smaller ones, so both paths are covered.
    for size in [(2000, 2000), (3000, 3000)]:
        png = encode(Image.new("L", size, "white"), "PNG")

        response = ocr(client, engine, png, "image/png")

        assert response.status_code == 413, size
        assert response.json()["error_type"] == "payload_too_large", size
        assert f"limit of {MAX_PIXELS} pixels" in response.json()["error"], size


def test_body_over_limit_returns_413(engine, client):
    response = ocr(client, engine, b"\x89PNG\r\n\x1a\n" + bytes(MAX_BODY_BYTES), "image/png")

    assert response.status_code == 413
    assert response.json()["error_type"] == "payload_too_large"


def test_busy_engine_returns_429(engine):
    # Six text lines take the recognizer about a second, far longer than the four requests take to arrive.
    png = encode(draw_page([f"Line number {number} of the page" for number in range(6)], (900, 600)), "PNG")

    def send(_index: int) -> httpx.Response:
        with httpx.Client(timeout=60.0) as own_client:
            return ocr(own_client, engine, png, "image/png")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(send, range(4)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 200, 429, 429]
    for response in responses:
        if response.status_code == 429:
            assert response.headers["retry-after"] == "2"
            assert response.json()["error_type"] == "overloaded"
