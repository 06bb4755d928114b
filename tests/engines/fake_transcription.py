"""A fake OpenAI-style speech-to-text server (POST /v1/audio/transcriptions), for tests and bench/.

It reads the multipart form (``file``, ``model``, ``language``, ``response_format``) as
faster-whisper servers and vLLM do, and answers in the requested format. The transcript
derives from the audio bytes (see fake_transcript), and the duration of a WAV file comes
from its header. A file that is not WAV, MP3, FLAC, Ogg, M4A or WebM fails with 400,
as a decoder error does; errors use OpenAI's body ``{"error": {"message", "type", "code"}}``.

    python -m tests.engines.fake_transcription --port 8084
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from email.parser import BytesParser
from email.policy import HTTP

from .fake_base import FakeEngine, Rejected, Reply, Request, run_standalone

RESPONSE_FORMATS = ("json", "verbose_json", "text", "srt", "vtt")
_AUDIO_MAGIC = (b"RIFF", b"ID3", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3")


def fake_transcript(audio: bytes) -> str:
    """Return "transcript " followed by the first 12 hex digits of the audio's SHA-256."""
    return f"transcript {hashlib.sha256(audio).hexdigest()[:12]}"


def make_wav(seconds: float = 0.5, frequency_hz: float = 440.0, sample_rate: int = 16_000) -> bytes:
    """Build a mono 16-bit PCM WAV file holding a sine tone."""
    frames = b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * frequency_hz * n / sample_rate)))
        for n in range(int(seconds * sample_rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(frames)
    return buffer.getvalue()


def audio_duration(audio: bytes) -> float:
    """Seconds of a WAV file from its header; other formats count as 16 kB per second."""
    if audio[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(audio), "rb") as reader:
                return round(reader.getnframes() / reader.getframerate(), 3)
        except (wave.Error, EOFError):
            raise Rejected(400, "could not decode the WAV file") from None
    return round(len(audio) / 16_000, 3)


def parse_multipart(request: Request) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    """Return (fields, files) of a multipart/form-data body; files map to (filename, content type, bytes)."""
    if not request.content_type.lower().startswith("multipart/form-data"):
        raise Rejected(400, "expected a multipart/form-data body")
    head = f"Content-Type: {request.content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, part.get_content_type(), content)
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


class FakeTranscriptionEngine(FakeEngine):
    kind = "transcription"

    def __init__(self, *, model_id: str = "fake-whisper", seed: int = 0):
        self.model_id = model_id
        super().__init__(seed=seed)

    def error_reply(self, error: Rejected) -> Reply:
        error_type = error.error_type or ("invalid_request_error" if error.status < 500 else "server_error")
        return Reply.json(error.status, {"error": {"message": error.message, "type": error_type, "code": error.status}})

    def route(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/v1/audio/transcriptions":
            return self._transcribe(request)
        return super().route(request)

    def _transcribe(self, request: Request) -> Reply:
        try:
            fields, files = parse_multipart(request)
        except Rejected:
            self.begin_call(request, 0)
            raise
        response_format = fields.get("response_format", "json")
        language = fields.get("language")
        self.begin_call(
            request,
            1 if "file" in files else 0,
            {"model": fields.get("model"), "language": language, "response_format": response_format},
        )

        if "file" not in files:
            raise Rejected(400, "the form has no file field")
        if response_format not in RESPONSE_FORMATS:
            raise Rejected(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}")
        model = fields.get("model")
        if model is not None and model != self.model_id:
            raise Rejected(404, f"The model `{model}` does not exist.", "NotFoundError")
        _filename, _content_type, audio = files["file"]
        if not audio.startswith(_AUDIO_MAGIC) and audio[4:8] != b"ftyp" and not audio.startswith(b"\xff\xfb"):
            raise Rejected(400, "could not decode the audio file")

        text = fake_transcript(audio)
        duration = audio_duration(audio)
        return _format_reply(text, duration, language or "en", response_format)


def _format_reply(text: str, duration: float, language: str, response_format: str) -> Reply:
    if response_format == "json":
        return Reply.json(200, {"text": text})
    if response_format == "verbose_json":
        segment = {"id": 0, "start": 0.0, "end": duration, "text": text}
        return Reply.json(
            200, {"task": "transcribe", "language": language, "duration": duration, "text": text, "segments": [segment]}
        )
    if response_format == "text":
        return Reply.text(200, text + "\n")
    if response_format == "srt":
        return Reply.text(200, f"1\n00:00:00,000 --> {_timestamp(duration, ',')}\n{text}\n\n")
    return Reply.text(200, f"WEBVTT\n\n00:00:00.000 --> {_timestamp(duration, '.')}\n{text}\n\n")


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole_seconds, milliseconds = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole_seconds:02d}{separator}{milliseconds:03d}"


if __name__ == "__main__":
    run_standalone(FakeTranscriptionEngine(), "Fake OpenAI-style transcription engine")
