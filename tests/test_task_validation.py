"""Request serializers of every inference task: valid bodies, each field's 400 and 413.

Errors go through the API's exception handler (describe_error), so the status, code and
field names asserted here are the ones a client would see.
"""

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from rest_framework.exceptions import APIException

from apps.api.exceptions import describe_error
from apps.inference.taskspecs import TASKS

from .engines.fake_ocr import make_pdf, make_png
from .engines.fake_transcription import make_wav

PNG = make_png("hello")
PDF = make_pdf(1)
WAV = make_wav(seconds=0.1)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
MP3 = b"ID3\x04\x00" + b"\x00" * 32


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def validate(task: str, data) -> dict:
    serializer = TASKS[task].serializer(data=data)
    serializer.is_valid(raise_exception=True)
    payload = serializer.validated_data
    # The payload is stored as JSON, so it must survive a round trip unchanged.
    assert json.loads(json.dumps(payload)) == payload
    return payload


def rejection(task: str, data) -> tuple[int, dict]:
    """Return (status, error body) of a body the serializer rejects."""
    with pytest.raises(APIException) as raised:
        validate(task, data)
    return describe_error(raised.value)


def assert_rejected(task: str, data, status: int, field: str) -> dict:
    actual_status, error = rejection(task, data)
    assert actual_status == status, error
    assert field in error["fields"], error
    assert field in error["message"], error
    return error


# embed


def test_embed_payload_has_defaults():
    assert validate("embed", {"inputs": "one"}) == {"inputs": ["one"], "normalize": True, "truncate": False}


def test_embed_too_many_inputs_is_413(settings):
    settings.REDGX_EMBED_MAX_INPUTS = 2
    error = assert_rejected("embed", {"inputs": ["a", "b", "c"]}, 413, "inputs")
    assert error["code"] == "too_many_inputs"


def test_embed_long_input_is_413(settings):
    settings.REDGX_EMBED_MAX_INPUT_CHARS = 3
    error = assert_rejected("embed", {"inputs": ["abc", "abcd"]}, 413, "inputs")
    assert error["code"] == "input_too_long"
    assert "Input 1 has 4 characters" in error["message"]


def test_embed_error_message_names_index():
    error = assert_rejected("embed", {"inputs": ["ok", " "]}, 400, "inputs")
    assert "Input 1 is empty." in error["fields"]["inputs"]


# generate


def test_generate_prompt_payload():
    payload = validate("generate", {"prompt": "Hello", "temperature": 0, "top_p": 1, "stop": "\n", "seed": 3})
    assert payload == {
        "prompt": "Hello",
        "messages": None,
        "model": None,
        "max_tokens": 256,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": ["\n"],
        "seed": 3,
    }


def test_generate_chat_payload():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    payload = validate("generate", {"messages": messages, "model": "llama", "max_tokens": 5})
    assert payload["messages"] == messages
    assert payload["prompt"] is None
    assert payload["model"] == "llama"
    assert payload["max_tokens"] == 5


def test_generate_batch_key_separates_forms():
    spec = TASKS["generate"]
    prompt = validate("generate", {"prompt": "x"})
    chat = validate("generate", {"messages": [{"role": "user", "content": "x"}]})
    assert spec.batch_key(prompt) != spec.batch_key(chat)
    assert spec.batch_key(prompt) == spec.batch_key(validate("generate", {"prompt": "other"}))
    assert dict(spec.batch_key(prompt))["max_tokens"] == 256


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "prompt"),
        ({"prompt": "x", "messages": [{"role": "user", "content": "x"}]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": ["a"]}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "user"}]}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages"),
        ({"messages": [["user", "x"]]}, "messages"),
        ({"prompt": "x", "model": ""}, "model"),
        ({"prompt": "x", "model": "a\nb"}, "model"),
        ({"prompt": "x", "model": 5}, "model"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 4097}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 1.5}, "max_tokens"),
        ({"prompt": "x", "max_tokens": True}, "max_tokens"),
        ({"prompt": "x", "max_tokens": "10"}, "max_tokens"),
        ({"prompt": "x", "temperature": -0.1}, "temperature"),
        ({"prompt": "x", "temperature": 2.01}, "temperature"),
        ({"prompt": "x", "temperature": float("nan")}, "temperature"),
        ({"prompt": "x", "temperature": float("inf")}, "temperature"),
        ({"prompt": "x", "temperature": True}, "temperature"),
        ({"prompt": "x", "temperature": "0.5"}, "temperature"),
        ({"prompt": "x", "top_p": 0}, "top_p"),
        ({"prompt": "x", "top_p": 1.5}, "top_p"),
        ({"prompt": "x", "top_p": float("-inf")}, "top_p"),
        ({"prompt": "x", "stop": []}, "stop"),
        ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"prompt": "x", "stop": [""]}, "stop"),
        ({"prompt": "x", "stop": [1]}, "stop"),
        ({"prompt": "x", "stop": "x" * 257}, "stop"),
        ({"prompt": "x", "seed": 2**63}, "seed"),
        ({"prompt": "x", "seed": 1.0}, "seed"),
        ({"prompt": "x", "seed": False}, "seed"),
        ({"prompt": "x", "n": 2}, "n"),
    ],
)
def test_generate_invalid_field_is_400(body, field):
    assert_rejected("generate", body, 400, field)


def test_generate_long_prompt_is_413(settings):
    settings.REDGX_GENERATE_MAX_PROMPT_CHARS = 10
    error = assert_rejected("generate", {"prompt": "x" * 11}, 413, "prompt")
    assert error["code"] == "input_too_long"


def test_generate_long_chat_is_413(settings):
    settings.REDGX_GENERATE_MAX_PROMPT_CHARS = 10
    messages = [{"role": "user", "content": "x" * 6}, {"role": "assistant", "content": "y" * 6}]
    error = assert_rejected("generate", {"messages": messages}, 413, "messages")
    assert error["code"] == "input_too_long"


def test_generate_too_many_messages_is_413(settings):
    settings.REDGX_GENERATE_MAX_MESSAGES = 2
    messages = [{"role": "user", "content": "x"}] * 3
    error = assert_rejected("generate", {"messages": messages}, 413, "messages")
    assert error["code"] == "too_many_messages"


def test_generate_default_max_tokens_follows_limit(settings):
    settings.REDGX_GENERATE_MAX_TOKENS = 100
    assert validate("generate", {"prompt": "x"})["max_tokens"] == 100


# translate


def test_translate_payload_canonical_tags():
    payload = validate("translate", {"texts": "Hello", "source": "EN", "target": "pt-br"})
    assert payload == {"texts": ["Hello"], "source": "en", "target": "pt-BR"}
    assert TASKS["translate"].batch_key(payload) == (("source", "en"), ("target", "pt-BR"))


def test_translate_accepts_script_and_numeric_region():
    payload = validate("translate", {"texts": ["x"], "source": "zh-hans-cn", "target": "es-419"})
    assert (payload["source"], payload["target"]) == ("zh-Hans-CN", "es-419")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"source": "en", "target": "pt-BR"}, "texts"),
        ({"texts": [], "source": "en", "target": "pt-BR"}, "texts"),
        ({"texts": [""], "source": "en", "target": "pt-BR"}, "texts"),
        ({"texts": ["a", None], "source": "en", "target": "pt-BR"}, "texts"),
        ({"texts": {"a": 1}, "source": "en", "target": "pt-BR"}, "texts"),
        ({"texts": ["a"], "target": "pt-BR"}, "source"),
        ({"texts": ["a"], "source": "english", "target": "pt-BR"}, "source"),
        ({"texts": ["a"], "source": "e", "target": "pt-BR"}, "source"),
        ({"texts": ["a"], "source": "en_US", "target": "pt-BR"}, "source"),
        ({"texts": ["a"], "source": "en-US-x-private", "target": "pt-BR"}, "source"),
        ({"texts": ["a"], "source": 1, "target": "pt-BR"}, "source"),
        ({"texts": ["a"], "source": "en", "target": "EN"}, "target"),
        ({"texts": ["a"], "source": "en", "target": "pt-BR", "model": "x"}, "model"),
    ],
)
def test_translate_invalid_field_is_400(body, field):
    assert_rejected("translate", body, 400, field)


def test_translate_limits_are_413(settings):
    settings.REDGX_TRANSLATE_MAX_TEXTS = 2
    settings.REDGX_TRANSLATE_MAX_TEXT_CHARS = 5
    error = assert_rejected("translate", {"texts": ["a", "b", "c"], "source": "en", "target": "pt-BR"}, 413, "texts")
    assert error["code"] == "too_many_inputs"
    error = assert_rejected("translate", {"texts": ["abcdef"], "source": "en", "target": "pt-BR"}, 413, "texts")
    assert error["code"] == "input_too_long"


# stt


def test_stt_base64_payload():
    payload = validate("stt", {"audio_base64": b64(WAV), "language": "EN", "response_format": "verbose_json"})
    assert payload == {
        "audio_base64": b64(WAV),
        "filename": "audio.wav",
        "content_type": "audio/wav",
        "language": "en",
        "response_format": "verbose_json",
    }
    assert TASKS["stt"].inputs(payload) == [
        {"audio_base64": b64(WAV), "filename": "audio.wav", "content_type": "audio/wav"}
    ]


def test_stt_multipart_upload():
    data = QueryDict(mutable=True)
    data.update({"language": "pt", "response_format": "srt"})
    data["audio"] = SimpleUploadedFile("talk.mp3", MP3, content_type="audio/mpeg")

    payload = validate("stt", data)

    assert payload["audio_base64"] == b64(MP3)
    assert payload["filename"] == "talk.mp3"
    assert payload["content_type"] == "audio/mpeg"
    assert payload["language"] == "pt"
    assert payload["response_format"] == "srt"


def test_stt_defaults_and_filename():
    payload = validate("stt", {"audio_base64": b64(WAV), "filename": "meeting.wav"})
    assert payload["filename"] == "meeting.wav"
    assert payload["language"] is None
    assert payload["response_format"] == "json"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "audio"),
        ({"audio_base64": b64(WAV), "audio": SimpleUploadedFile("a.wav", WAV)}, "audio"),
        ({"audio": b64(WAV)}, "audio"),
        ({"audio_base64": "not base64!"}, "audio_base64"),
        ({"audio_base64": b64(WAV)[:-2] + " ="}, "audio_base64"),
        ({"audio_base64": "data:audio/wav;base64," + b64(WAV)}, "audio_base64"),
        ({"audio_base64": ""}, "audio_base64"),
        ({"audio_base64": 5}, "audio_base64"),
        ({"audio_base64": b64(b"plain text, not audio")}, "audio_base64"),
        ({"audio_base64": b64(PNG)}, "audio_base64"),
        ({"audio": SimpleUploadedFile("a.wav", b"not audio")}, "audio"),
        ({"audio": SimpleUploadedFile("a.wav", b"")}, "audio"),
        ({"audio_base64": b64(WAV), "language": "eng"}, "language"),
        ({"audio_base64": b64(WAV), "language": "e1"}, "language"),
        ({"audio_base64": b64(WAV), "language": 1}, "language"),
        ({"audio_base64": b64(WAV), "response_format": "xml"}, "response_format"),
        ({"audio_base64": b64(WAV), "filename": "../../etc/passwd"}, "filename"),
        ({"audio_base64": b64(WAV), "filename": "a\x00.wav"}, "filename"),
        ({"audio_base64": b64(WAV), "filename": ""}, "filename"),
        ({"audio_base64": b64(WAV), "filename": "x" * 256}, "filename"),
        ({"audio_base64": b64(WAV), "temperature": 0}, "temperature"),
    ],
)
def test_stt_invalid_field_is_400(body, field):
    assert_rejected("stt", body, 400, field)


def test_stt_oversize_audio_is_413(settings):
    settings.REDGX_STT_MAX_AUDIO_BYTES = 100
    big = WAV[:44] + b"\x00" * 200
    error = assert_rejected("stt", {"audio_base64": b64(big)}, 413, "audio_base64")
    assert error["code"] == "file_too_large"
    error = assert_rejected("stt", {"audio": SimpleUploadedFile("a.wav", big)}, 413, "audio")
    assert error["code"] == "file_too_large"


def test_stt_size_limit_is_inclusive(settings):
    settings.REDGX_STT_MAX_AUDIO_BYTES = 100
    exact = WAV[:44] + b"\x00" * 56
    assert validate("stt", {"audio_base64": b64(exact)})["audio_base64"] == b64(exact)


# ocr


@pytest.mark.parametrize(
    "content, content_type",
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (JPEG, "image/jpg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00" + b"\x00" * 8, "image/tiff"),
        (b"MM\x00*" + b"\x00" * 8, "image/tiff"),
        (PDF, "application/pdf"),
        (PDF, "application/pdf; charset=binary"),
    ],
)
def test_ocr_base64_formats(content, content_type):
    payload = validate("ocr", {"document_base64": b64(content), "content_type": content_type})
    assert payload["document_base64"] == b64(content)
    assert payload["content_type"] == content_type.split(";")[0].replace("jpg", "jpeg")


def test_ocr_multipart_upload_takes_detected_type():
    data = QueryDict(mutable=True)
    data["document"] = SimpleUploadedFile("scan", PDF, content_type="application/octet-stream")
    assert validate("ocr", data) == {"document_base64": b64(PDF), "content_type": "application/pdf"}


def test_ocr_multipart_upload_with_own_type():
    data = {"document": SimpleUploadedFile("page.png", PNG, content_type="image/png")}
    assert validate("ocr", data)["content_type"] == "image/png"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "document"),
        ({"document_base64": b64(PNG)}, "content_type"),
        ({"document_base64": b64(PNG), "content_type": "image/jpeg"}, "content_type"),
        ({"document_base64": b64(PDF), "content_type": "image/png"}, "content_type"),
        ({"document_base64": b64(PNG), "content_type": "image/gif"}, "content_type"),
        ({"document_base64": b64(PNG), "content_type": 5}, "content_type"),
        ({"document_base64": b64(b"GIF89a......"), "content_type": "image/png"}, "document_base64"),
        ({"document_base64": "%%%", "content_type": "image/png"}, "document_base64"),
        ({"document": SimpleUploadedFile("a.png", b"<html>", content_type="image/png")}, "document"),
        ({"document": SimpleUploadedFile("a.png", PNG, content_type="application/pdf")}, "content_type"),
        ({"document": b64(PNG), "content_type": "image/png"}, "document"),
        ({"document_base64": b64(PNG), "content_type": "image/png", "languages": ["en"]}, "languages"),
    ],
)
def test_ocr_invalid_field_is_400(body, field):
    assert_rejected("ocr", body, 400, field)


def test_ocr_oversize_document_is_413(settings):
    settings.REDGX_OCR_MAX_DOCUMENT_BYTES = 64
    big = make_png("x" * 200)
    error = assert_rejected("ocr", {"document_base64": b64(big), "content_type": "image/png"}, 413, "document_base64")
    assert error["code"] == "file_too_large"
    error = assert_rejected("ocr", {"document": SimpleUploadedFile("a.png", big)}, 413, "document")
    assert error["code"] == "file_too_large"


# shared


@pytest.mark.parametrize("task", ["embed", "generate", "translate", "stt", "ocr"])
@pytest.mark.parametrize("body", [[], "text", None, 5])
def test_non_object_body_is_400(task, body):
    status, error = rejection(task, body)
    assert status == 400
    assert error["code"] == "invalid"


def test_every_task_has_protocols_and_client():
    assert set(TASKS) == {"embed", "generate", "translate", "stt", "ocr"}
    for name, spec in TASKS.items():
        assert spec.name == name
        assert spec.protocols
