"""File formats recognized by their first bytes (magic numbers), for stt and ocr inputs.

The gateway checks the bytes itself, so a mislabeled or corrupt file fails at submit with
400 instead of costing an engine call. Each check is the format's standard signature:
the PNG signature, the JPEG start-of-image marker, a RIFF container of type WEBP or WAVE,
a TIFF byte-order header, ``%PDF-``, an ID3v2 tag or MPEG frame sync for MP3, ``fLaC``,
``OggS``, an ISO base media ``ftyp`` box (MP4, M4A) and the EBML header (WebM, Matroska).
Only the first bytes are checked, so a file can still be corrupt further on; the engine
then rejects it.
"""

DOCUMENT_CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp", "image/tiff", "application/pdf")

# Names clients often send for a type that has another registered name.
CONTENT_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/tif": "image/tiff"}

# Content types that carry no format information, so the detected format is used instead.
GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def detect_document_type(content: bytes) -> str | None:
    """Return the content type of an image or PDF from its first bytes, or None."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    # Common PDF readers accept a header anywhere in the first 1024 bytes, so this check does too.
    if b"%PDF-" in content[:1024]:
        return "application/pdf"
    return None


def detect_audio_type(content: bytes) -> tuple[str, str] | None:
    """Return (content type, file extension) of an audio file from its first bytes, or None."""
    if content[:4] == b"RIFF" and content[8:12] == b"WAVE":
        return "audio/wav", "wav"
    if content.startswith(b"ID3") or (len(content) > 1 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0):
        return "audio/mpeg", "mp3"
    if content.startswith(b"fLaC"):
        return "audio/flac", "flac"
    if content.startswith(b"OggS"):
        return "audio/ogg", "ogg"
    if content[4:8] == b"ftyp":
        return "audio/mp4", "m4a"
    if content.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm", "webm"
    return None


def normalize_content_type(value: str) -> str:
    """Lower-case a content type, drop its parameters and map aliases to the registered name."""
    media_type = value.split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_ALIASES.get(media_type, media_type)
