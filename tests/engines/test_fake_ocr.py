"""The fake OCR engine over raw HTTP, checked against the RedGX OCR protocol."""

import base64

import httpx
import pytest

from .fake_ocr import FakeOcrEngine, fake_document_text, make_pdf, make_png, png_size_and_text


@pytest.fixture
def engine():
    with FakeOcrEngine() as fake:
        yield fake


def post(engine, document: bytes, content_type: str):
    body = {"document": base64.b64encode(document).decode(), "content_type": content_type}
    return httpx.post(f"{engine.url}/ocr", json=body)


def test_make_png_round_trips_text():
    assert png_size_and_text(make_png("a\nb", width=7, height=3)) == (7, 3, "a\nb")


def test_png_lines_and_boxes(engine):
    reply = post(engine, make_png("first\nsecond", width=50, height=40), "image/png").json()
    assert reply["text"] == "first\nsecond"
    lines = reply["pages"][0]["lines"]
    assert [line["text"] for line in lines] == ["first", "second"]
    assert lines[1]["box"] == [[0, 20], [50, 20], [50, 40], [0, 40]]


def test_image_without_text_reads_hash(engine):
    jpeg = b"\xff\xd8\xff\xe0" + b"\x01" * 20
    reply = post(engine, jpeg, "image/jpeg").json()
    assert reply["text"] == fake_document_text(jpeg)


def test_pdf_has_one_page_per_page_object(engine):
    pdf = make_pdf(3)
    reply = post(engine, pdf, "application/pdf").json()
    assert [page["page"] for page in reply["pages"]] == [1, 2, 3]
    assert reply["text"].count("\n\n") == 2


@pytest.mark.parametrize(
    "document, content_type",
    [(b"GIF89a", "image/gif"), (b"not a png", "image/png"), (make_pdf(), "image/png")],
)
def test_undecodable_document_is_422(engine, document, content_type):
    reply = post(engine, document, content_type)
    assert reply.status_code == 422
    assert reply.json()["error_type"] == "bad_document"


def test_invalid_base64_is_422(engine):
    reply = httpx.post(f"{engine.url}/ocr", json={"document": "!!!", "content_type": "image/png"})
    assert reply.status_code == 422


def test_reject_marker_is_bad_document(engine):
    engine.reject_marker = "SMUDGE"
    reply = post(engine, make_png("a SMUDGE b"), "image/png")
    assert reply.status_code == 422
