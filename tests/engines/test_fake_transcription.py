"""The fake transcription engine over raw HTTP, checked against OpenAI's /v1/audio/transcriptions."""

import httpx
import pytest

from .fake_transcription import FakeTranscriptionEngine, fake_transcript, make_wav

PATH = "/v1/audio/transcriptions"


@pytest.fixture
def engine():
    with FakeTranscriptionEngine() as fake:
        yield fake


def post(engine, audio: bytes, **form):
    return httpx.post(f"{engine.url}{PATH}", data=form, files={"file": ("clip.wav", audio, "audio/wav")})


def test_json_reply_derives_from_audio(engine):
    audio = make_wav(seconds=0.1)
    assert post(engine, audio).json() == {"text": fake_transcript(audio)}
    assert engine.calls[0].params == {"model": None, "language": None, "response_format": "json"}


def test_verbose_json_has_wav_duration(engine):
    reply = post(engine, make_wav(seconds=1.5), response_format="verbose_json", language="pt").json()
    assert reply["duration"] == 1.5
    assert reply["language"] == "pt"
    assert reply["segments"][0]["end"] == 1.5


def test_vtt_reply_is_plain_text(engine):
    reply = post(engine, make_wav(seconds=0.5), response_format="vtt")
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.500\n")


def test_undecodable_audio_is_400(engine):
    reply = post(engine, b"hello")
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_missing_file_is_400(engine):
    reply = httpx.post(f"{engine.url}{PATH}", data={"model": "fake-whisper"}, files={"other": ("a", b"x")})
    assert reply.status_code == 400
    assert engine.batch_sizes == [0]


def test_unknown_model_is_404(engine):
    assert post(engine, make_wav(), model="large-v3").status_code == 404
