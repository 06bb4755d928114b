"""Engine clients against the fake engines, as real HTTP servers on 127.0.0.1."""

import base64
import threading
import time

import pytest

from apps.inference.engines.errors import EngineError
from apps.inference.engines.fanout import call_each
from apps.inference.engines.ocr import OcrClient
from apps.inference.engines.openai import OpenAIClient
from apps.inference.engines.registry import EngineConfig
from apps.inference.engines.tei import TeiClient
from apps.inference.engines.transcription import TranscriptionClient
from apps.inference.engines.translation import TranslationClient
from apps.inference.taskspecs import TASKS, make_engine_client

from .engines.fake_ocr import FakeOcrEngine, fake_document_text, make_pdf, make_png
from .engines.fake_openai import FakeOpenAIEngine, fake_completion
from .engines.fake_tei import FakeTeiEngine, fake_embedding
from .engines.fake_transcription import FakeTranscriptionEngine, fake_transcript, make_wav
from .engines.fake_translate import FakeTranslateEngine, fake_translation

TIMEOUT_S = 5.0


def engine_error(call) -> EngineError:
    with pytest.raises(EngineError) as raised:
        call()
    return raised.value


@pytest.fixture
def tei():
    with FakeTeiEngine(max_client_batch_size=32) as engine:
        yield engine


@pytest.fixture
def openai_engine():
    with FakeOpenAIEngine() as engine:
        yield engine


@pytest.fixture
def translate_engine():
    with FakeTranslateEngine(max_batch_size=4) as engine:
        yield engine


@pytest.fixture
def transcription_engine():
    with FakeTranscriptionEngine() as engine:
        yield engine


@pytest.fixture
def ocr_engine():
    with FakeOcrEngine() as engine:
        yield engine


def audio_item(content: bytes, filename: str = "clip.wav", content_type: str = "audio/wav") -> dict:
    return {"audio_base64": base64.b64encode(content).decode(), "filename": filename, "content_type": content_type}


def document_item(content: bytes, content_type: str) -> dict:
    return {"document_base64": base64.b64encode(content).decode(), "content_type": content_type}


# TEI


def test_tei_splits_1000_inputs_to_info_limit(tei):
    client = TeiClient(tei.url, TIMEOUT_S)
    inputs = [f"sentence {n}" for n in range(1000)]

    vectors = client.embed(inputs, normalize=True, truncate=False)

    assert vectors == [fake_embedding(text) for text in inputs]
    assert tei.calls == [32] * 31 + [8]
    assert client.client_batch_size() == 32


def test_tei_call_reads_batch_key(tei):
    client = TeiClient(tei.url, TIMEOUT_S)
    batch_key = TASKS["embed"].batch_key({"inputs": ["x"], "normalize": False, "truncate": False})

    vectors = client.call(["a", "b"], batch_key)

    assert vectors == [fake_embedding("a", normalize=False), fake_embedding("b", normalize=False)]


def test_tei_splits_under_payload_limit(tei):
    client = TeiClient(tei.url, TIMEOUT_S, payload_limit_bytes=1000)
    inputs = [f"{n:03d} " + "x" * 200 for n in range(10)]

    vectors = client.embed(inputs, normalize=True, truncate=False)

    assert vectors == [fake_embedding(text) for text in inputs]
    assert sum(tei.calls) == 10
    assert max(tei.calls) <= 4


def test_tei_413_rereads_info_and_resplits(tei):
    client = TeiClient(tei.url, TIMEOUT_S)
    assert client.client_batch_size() == 32
    tei.max_client_batch_size = 8
    inputs = [f"s{n}" for n in range(20)]

    vectors = client.embed(inputs, normalize=True, truncate=False)

    assert vectors == [fake_embedding(text) for text in inputs]
    assert tei.calls == [20, 8, 8, 4]
    assert client.client_batch_size() == 8


def test_tei_413_single_input_too_long(tei):
    tei.max_input_length = 5
    client = TeiClient(tei.url, TIMEOUT_S)

    error = engine_error(lambda: client.embed(["one two three four five six"], normalize=True, truncate=False))

    assert error.transient is False
    assert error.code == "input_too_long"
    assert error.status == 413


def test_tei_413_batch_halves_to_input(tei):
    tei.max_input_length = 5
    client = TeiClient(tei.url, TIMEOUT_S)
    inputs = ["fine"] * 3 + ["one two three four five six"]

    error = engine_error(lambda: client.embed(inputs, normalize=True, truncate=False))

    assert error.code == "input_too_long"
    # After the first call of 4, halves of 2 follow. The first half passes and the second splits to 1 and 1.
    assert tei.calls == [4, 2, 2, 1, 1]


@pytest.mark.parametrize(
    "status, transient, code",
    [
        (400, False, "input_rejected"),
        (422, False, "input_rejected"),
        (413, False, "input_too_long"),
        (404, False, "engine_rejected"),
        (408, True, "engine_unavailable"),
        (424, True, "engine_unavailable"),
        (429, True, "engine_busy"),
        (500, True, "engine_unavailable"),
        (503, True, "engine_unavailable"),
    ],
)
def test_status_maps_to_error_kind(tei, status, transient, code):
    client = TeiClient(tei.url, TIMEOUT_S)
    client.client_batch_size()
    tei.fail_next(status)

    error = engine_error(lambda: client.embed(["x"], normalize=True, truncate=False))

    assert error.status == status
    assert error.transient is transient
    assert error.code == code


def test_hanging_engine_times_out_within_read_timeout(tei):
    client = TeiClient(tei.url, 0.5)
    client.client_batch_size()
    tei.hang = True
    started = time.monotonic()

    error = engine_error(lambda: client.embed(["x"], normalize=True, truncate=False))

    # The fake hangs for 60 s; the client gives up after its 0.5 s read timeout.
    assert time.monotonic() - started < 10
    assert error.transient is True
    assert error.code == "engine_timeout"


def test_stopped_engine_is_unreachable(tei):
    client = TeiClient(tei.url, TIMEOUT_S, connect_timeout_s=1)
    client.client_batch_size()
    tei.stop()

    error = engine_error(lambda: client.embed(["x"], normalize=True, truncate=False))

    assert error.transient is True
    assert error.code == "engine_unreachable"


def test_tei_info_without_limit_is_bad_response():
    # The translate fake's /info has max_batch_size but no max_client_batch_size.
    with FakeTranslateEngine() as other:
        client = TeiClient(other.url, TIMEOUT_S)
        error = engine_error(lambda: client.embed(["x"], normalize=True, truncate=False))
    assert error.transient is True
    assert error.code == "engine_bad_response"


def test_health_follows_engine(tei):
    client = TeiClient(tei.url, TIMEOUT_S)
    assert client.health() is True
    tei.healthy = False
    assert client.health() is False


# Request ids


def test_each_attempt_gets_new_request_id(translate_engine):
    client = TranslationClient(translate_engine.url, TIMEOUT_S)
    translate_engine.fail_next(503)

    first = engine_error(lambda: client.translate(["hello"], source="en", target="pt-BR"))
    translations = client.translate(["hello"], source="en", target="pt-BR")

    assert first.transient is True
    assert translations == [fake_translation("hello", "en", "pt-BR")]
    request_ids = translate_engine.request_ids
    assert len(request_ids) == 2
    assert all(request_ids)
    assert request_ids[0] != request_ids[1]


def test_split_requests_get_distinct_request_ids(tei):
    client = TeiClient(tei.url, TIMEOUT_S)
    tei.max_client_batch_size = 2
    client.embed(["a", "b", "c", "d", "e"], normalize=True, truncate=False)
    assert tei.calls == [2, 2, 1]
    with FakeOcrEngine() as ocr:
        ocr_client = OcrClient(ocr.url, TIMEOUT_S, max_concurrent_calls=3)
        items = [document_item(make_png(f"doc {n}"), "image/png") for n in range(3)]
        ocr_client.call(items, ())
        assert len(set(ocr.request_ids)) == 3


# OpenAI completions and chat


def sampling_key(**overrides) -> tuple:
    payload = {
        "prompt": "x",
        "messages": None,
        "model": None,
        "max_tokens": 8,
        "temperature": None,
        "top_p": None,
        "stop": None,
        "seed": None,
    }
    payload.update(overrides)
    return TASKS["generate"].batch_key(payload)


def test_completions_send_prompts_in_one_call(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S, max_batch_size=8)
    prompts = ["one two three", "four five", "six"]

    outputs = client.call(prompts, sampling_key(temperature=0.5, seed=7))

    assert openai_engine.batch_sizes == [3]
    assert [output["text"] for output in outputs] == [fake_completion(p, 8)[0] for p in prompts]
    assert all(output["model"] == "fake-llm" for output in outputs)
    assert all(output["usage"] is None for output in outputs)
    params = openai_engine.calls[0].params
    assert params["temperature"] == 0.5
    assert params["seed"] == 7
    assert params["max_tokens"] == 8
    assert params["top_p"] is None


def test_completions_match_answers_by_index(openai_engine):
    openai_engine.shuffle_choices = True
    client = OpenAIClient(openai_engine.url, TIMEOUT_S, max_batch_size=8)
    prompts = ["alpha beta", "gamma delta", "epsilon zeta"]

    outputs = client.call(prompts, sampling_key())

    assert [output["text"] for output in outputs] == ["beta alpha", "delta gamma", "zeta epsilon"]


def test_completions_split_to_max_batch_size(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S, max_batch_size=2)
    prompts = [f"prompt {n}" for n in range(5)]

    outputs = client.call(prompts, sampling_key())

    assert openai_engine.batch_sizes == [2, 2, 1]
    assert [output["text"] for output in outputs] == [fake_completion(p, 8)[0] for p in prompts]


def test_single_completion_reports_usage_and_finish_reason(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S)

    [output] = client.call(["a b c d e f g h i j"], sampling_key(max_tokens=3))

    assert output["text"] == "j i h"
    assert output["finish_reason"] == "length"
    assert output["usage"] == {"prompt_tokens": 10, "completion_tokens": 3}


def test_completions_stop_sequence_is_sent(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S)

    [output] = client.call(["a b c d"], sampling_key(stop=["b"]))

    assert output["text"] == "d c "
    assert output["finish_reason"] == "stop"
    assert openai_engine.calls[0].params["stop"] == ["b"]


def test_chat_sends_one_conversation_per_call(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S, chat_only=True, max_concurrent_calls=3)
    chats = [
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"hello number {n}"}] for n in range(3)
    ]

    outputs = client.call(chats, sampling_key(prompt=None, messages=chats[0]))

    assert openai_engine.batch_sizes == [1, 1, 1]
    for n, output in enumerate(outputs):
        assert output["text"] == f"{n} number hello"
        assert output["message"] == {"role": "assistant", "content": f"{n} number hello"}
        assert output["finish_reason"] == "stop"
        assert output["usage"] == {"prompt_tokens": 5, "completion_tokens": 3}


def test_chat_protocol_sends_prompt_as_user_message(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S, chat_only=True)

    [output] = client.call(["ping pong"], sampling_key())

    assert output["message"]["content"] == "pong ping"
    assert openai_engine.calls[0].path == "/v1/chat/completions"


def test_completions_protocol_routes_chats_to_chat(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S)
    chat = [{"role": "user", "content": "left right"}]

    outputs = client.call(["up down", chat], sampling_key())

    assert [output["text"] for output in outputs] == ["down up", "right left"]
    assert sorted(call.path for call in openai_engine.calls) == ["/v1/chat/completions", "/v1/completions"]


def test_overlong_prompt_is_input_too_long(openai_engine):
    openai_engine.max_model_len = 3
    client = OpenAIClient(openai_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.call(["a b c d"], sampling_key()))

    assert error.transient is False
    assert error.code == "input_too_long"
    assert "maximum context length" in error.message


def test_unknown_model_is_rejected(openai_engine):
    client = OpenAIClient(openai_engine.url, TIMEOUT_S, model="other-model")

    error = engine_error(lambda: client.call(["hi"], sampling_key()))

    assert error.status == 404
    assert error.transient is False
    assert error.code == "engine_rejected"
    assert "other-model" in error.message


def test_completions_malformed_reply_is_transient(openai_engine):
    openai_engine.malformed_replies = True
    client = OpenAIClient(openai_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.call(["hi"], sampling_key()))

    assert error.transient is True
    assert error.code == "engine_bad_response"


# Transcription


@pytest.mark.parametrize("response_format", ["json", "verbose_json", "text", "srt", "vtt"])
def test_transcription_formats(transcription_engine, response_format):
    client = TranscriptionClient(transcription_engine.url, TIMEOUT_S, model="fake-whisper")
    audio = make_wav(seconds=0.25)

    [output] = client.call([audio_item(audio)], (("language", "en"), ("response_format", response_format)))

    expected = fake_transcript(audio)
    if response_format == "json":
        assert output == {"text": expected}
    elif response_format == "verbose_json":
        assert output["text"] == expected
        assert output["language"] == "en"
        assert output["duration"] == 0.25
        assert output["segments"][0]["text"] == expected
    elif response_format == "text":
        assert output == {"text": expected + "\n"}
    elif response_format == "srt":
        assert output["text"].startswith("1\n00:00:00,000 --> 00:00:00,250\n")
    else:
        assert output["text"].startswith("WEBVTT\n")
    params = transcription_engine.calls[0].params
    assert params["model"] == "fake-whisper"
    assert params["language"] == "en"
    assert params["response_format"] == response_format


def test_transcription_bad_audio_is_permanent(transcription_engine):
    client = TranscriptionClient(transcription_engine.url, TIMEOUT_S)

    error = engine_error(
        lambda: client.call([audio_item(b"not audio at all")], (("language", None), ("response_format", "json")))
    )

    assert error.transient is False
    assert error.code == "bad_audio"


def test_transcription_malformed_reply_is_transient(transcription_engine):
    transcription_engine.malformed_replies = True
    client = TranscriptionClient(transcription_engine.url, TIMEOUT_S)

    error = engine_error(
        lambda: client.call([audio_item(make_wav())], (("language", None), ("response_format", "json")))
    )

    assert error.code == "engine_bad_response"


# Translation


def test_translation_splits_to_info_batch_size(translate_engine):
    client = TranslationClient(translate_engine.url, TIMEOUT_S)
    texts = [f"text {n}" for n in range(10)]

    translations = client.call(texts, TASKS["translate"].batch_key({"source": "en", "target": "pt-BR"}))

    assert translations == [fake_translation(text, "en", "pt-BR") for text in texts]
    assert translate_engine.batch_sizes == [4, 4, 2]
    assert {call.params["target"] for call in translate_engine.calls} == {"pt-BR"}


def test_translation_unsupported_pair_fails_without_call(translate_engine):
    client = TranslationClient(translate_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.translate(["hi"], source="en", target="fr"))

    assert error.transient is False
    assert error.code == "unsupported_pair"
    assert translate_engine.calls == []


def test_translation_engine_422_keeps_error_type(translate_engine):
    client = TranslationClient(translate_engine.url, TIMEOUT_S)
    client.info()
    translate_engine.pairs = (("pt-BR", "en"),)

    error = engine_error(lambda: client.translate(["hi"], source="en", target="pt-BR"))

    assert error.status == 422
    assert error.code == "unsupported_pair"


def test_translation_413_rereads_info_and_resplits(translate_engine):
    client = TranslationClient(translate_engine.url, TIMEOUT_S)
    client.info()
    translate_engine.max_batch_size = 2
    texts = ["a", "b", "c", "d"]

    translations = client.translate(texts, source="en", target="pt-BR")

    assert translations == [fake_translation(text, "en", "pt-BR") for text in texts]
    assert translate_engine.batch_sizes == [4, 2, 2]


def test_translation_rejected_text_is_input_rejected(translate_engine):
    translate_engine.reject_marker = "POISON"
    client = TranslationClient(translate_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.translate(["fine", "POISON"], source="en", target="pt-BR"))

    assert error.transient is False
    assert error.code == "input_rejected"


def test_translation_wrong_count_is_bad_response(translate_engine):
    translate_engine.malformed_replies = True
    client = TranslationClient(translate_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.translate(["hi"], source="en", target="pt-BR"))

    assert error.transient is True
    assert error.code == "engine_bad_response"


# OCR


def test_ocr_reads_png_text(ocr_engine):
    client = OcrClient(ocr_engine.url, TIMEOUT_S)

    [output] = client.call([document_item(make_png("Hello\nWorld", width=40, height=10), "image/png")], ())

    assert output["text"] == "Hello\nWorld"
    [page] = output["pages"]
    assert (page["page"], page["width"], page["height"]) == (1, 40, 10)
    assert [line["text"] for line in page["lines"]] == ["Hello", "World"]
    assert ocr_engine.calls[0].params["content_type"] == "image/png"


def test_ocr_pdf_pages_are_separated(ocr_engine):
    client = OcrClient(ocr_engine.url, TIMEOUT_S)
    pdf = make_pdf(page_count=2)

    [output] = client.call([document_item(pdf, "application/pdf")], ())

    assert [page["page"] for page in output["pages"]] == [1, 2]
    assert output["text"] == f"{fake_document_text(pdf, 1)}\n\n{fake_document_text(pdf, 2)}"


def test_ocr_mismatched_document_is_bad_document(ocr_engine):
    client = OcrClient(ocr_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.call([document_item(make_png("x"), "application/pdf")], ()))

    assert error.status == 422
    assert error.transient is False
    assert error.code == "bad_document"


def test_ocr_413_is_document_too_large(ocr_engine):
    ocr_engine.fail_next(413)
    client = OcrClient(ocr_engine.url, TIMEOUT_S)

    error = engine_error(lambda: client.call([document_item(make_png("x"), "image/png")], ()))

    assert error.transient is False
    assert error.code == "document_too_large"


def test_ocr_calls_run_concurrently(ocr_engine):
    ocr_engine.latency_s = 0.3
    client = OcrClient(ocr_engine.url, TIMEOUT_S, max_concurrent_calls=4)
    in_flight = []

    def watch():
        # Four calls sleeping 0.3 s each overlap only if the engine receives all four at once.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and len(ocr_engine.calls) < 4:
            time.sleep(0.01)
        in_flight.append(len(ocr_engine.calls))

    watcher = threading.Thread(target=watch)
    watcher.start()
    outputs = client.call([document_item(make_png(f"n{n}"), "image/png") for n in range(4)], ())
    watcher.join()

    assert [output["text"] for output in outputs] == ["n0", "n1", "n2", "n3"]
    assert in_flight == [4]


# Fan-out and the client factory


def test_fanout_prefers_permanent_error():
    def call_one(item):
        if item == "bad":
            raise EngineError("rejected", transient=False, code="input_rejected")
        raise EngineError("busy", transient=True, code="engine_busy")

    error = engine_error(lambda: call_each(["busy", "bad", "busy"], call_one, max_concurrent_calls=3))

    assert error.code == "input_rejected"


@pytest.mark.parametrize(
    "protocol, client_type",
    [
        ("tei", TeiClient),
        ("openai_completions", OpenAIClient),
        ("openai_chat", OpenAIClient),
        ("openai_transcriptions", TranscriptionClient),
        ("redgx_translate", TranslationClient),
        ("redgx_ocr", OcrClient),
    ],
)
def test_engine_client_per_protocol(protocol, client_type):
    engine = EngineConfig(
        name=f"test-{protocol}",
        task="embed",
        base_url="http://127.0.0.1:9",
        protocol=protocol,
        model="",
        batch_size=8,
        max_wait_ms=10,
        max_concurrent_calls=3,
        connect_timeout_s=1.5,
        timeout_s=7.0,
    )

    client = make_engine_client(engine)

    assert isinstance(client, client_type)
    timeout = client.http.timeout
    assert (timeout.connect, timeout.read) == (1.5, 7.0)
    if protocol in {"openai_chat", "openai_transcriptions", "redgx_ocr"}:
        assert client.max_batch_size == 1
    else:
        assert client.max_batch_size == 8
