"""Client for OpenAI-style speech-to-text servers (POST /v1/audio/transcriptions).

faster-whisper servers and vLLM's Whisper speak this protocol. An item is the job's
audio as stored by the stt serializer (``audio_base64``, ``filename``,
``content_type``); the batch key carries ``language`` and ``response_format``. Each
request sends one file, and requests run concurrently up to ``max_concurrent_calls``.

Outputs: ``{"text"}`` for json; ``{"text", "language", "duration", "segments"}`` for
verbose_json (keys the engine left out are left out); ``{"text": body}`` for the plain
text formats (text, srt, vtt).
"""

import base64

from .fanout import call_each
from .http import bad_response, check_health, client_for, decode_json, post_multipart

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
JSON_FORMATS = ("json", "verbose_json")
VERBOSE_KEYS = ("language", "duration", "segments")


class TranscriptionClient:
    max_batch_size = 1

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        *,
        connect_timeout_s: float | None = None,
        model: str | None = None,
        max_concurrent_calls: int = 2,
    ):
        self.base_url = base_url
        self.http = client_for(base_url, timeout_s, connect_timeout_s)
        self.model = model or None
        self.max_concurrent_calls = max(1, max_concurrent_calls)

    def health(self) -> bool:
        return check_health(self.http)

    def call(self, items: list[dict], batch_key: tuple) -> list[dict]:
        params = dict(batch_key)
        return call_each(items, lambda audio: self.transcribe(audio, **params), self.max_concurrent_calls)

    def transcribe(self, audio: dict, *, language: str | None = None, response_format: str = "json") -> dict:
        """Send one audio file and return its transcription in the shape described above."""
        form = {"response_format": response_format}
        if self.model:
            form["model"] = self.model
        if language:
            form["language"] = language
        content = base64.b64decode(audio["audio_base64"])
        files = {"file": (audio["filename"], content, audio["content_type"])}
        response = post_multipart(
            self.http,
            TRANSCRIPTIONS_PATH,
            data=form,
            files=files,
            rejected_code="bad_audio",
            too_large_code="audio_too_large",
        )

        if response_format not in JSON_FORMATS:
            return {"text": response.text}
        reply = decode_json(self.http, TRANSCRIPTIONS_PATH, response)
        if not isinstance(reply, dict) or not isinstance(reply.get("text"), str):
            raise bad_response(self.http, TRANSCRIPTIONS_PATH, "no text")
        result = {"text": reply["text"]}
        if response_format == "verbose_json":
            result.update({key: reply[key] for key in VERBOSE_KEYS if key in reply})
        return result
