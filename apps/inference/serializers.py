"""Request bodies of the inference tasks, one strict serializer per task.

``validated_data`` is the job payload the worker reads, so it holds only JSON types:
binary inputs are stored as base64 text, and optional sampling values the client left
out are None (the engine then applies its own default).
"""

import base64

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictSerializer

from .fields import (
    Base64BytesField,
    FilenameField,
    IsoLanguageField,
    LanguageTagField,
    TextListField,
    UploadField,
    is_finite_number,
    too_large,
)
from .media import (
    DOCUMENT_CONTENT_TYPES,
    GENERIC_CONTENT_TYPES,
    detect_audio_type,
    detect_document_type,
    normalize_content_type,
)

RESPONSE_FORMATS = ("json", "verbose_json", "text", "srt", "vtt")
CHAT_ROLES = ("system", "user", "assistant")
# OpenAI's API accepts at most 4 stop sequences.
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 256
MAX_MODEL_NAME_CHARS = 256


class EmbedInputsField(TextListField):
    """One non-empty string, or a non-empty list of them; always returns a list."""

    # Lazy, because the class body runs once at import, before any request picks a language.
    default_error_messages = {
        "empty_list": gettext_lazy("Must contain at least one input."),
        "empty_item": gettext_lazy("Input {index} is empty."),
        "not_string": gettext_lazy("Input {index} is not a string."),
    }
    too_many_items_message = gettext_lazy("Too many inputs: %(count)d, the limit is %(limit)d.")
    item_too_long_message = gettext_lazy("Input %(index)d has %(length)d characters, the limit is %(limit)d.")

    def __init__(self, **kwargs):
        super().__init__(max_items="REDGX_EMBED_MAX_INPUTS", max_chars="REDGX_EMBED_MAX_INPUT_CHARS", **kwargs)


class EmbedRequestSerializer(StrictSerializer):
    inputs = EmbedInputsField()
    normalize = StrictBooleanField(required=False, default=True)
    truncate = StrictBooleanField(required=False, default=False)


class BoundedNumberField(serializers.Field):
    """A finite JSON number within bounds; ``exclusive_min`` makes the lower bound open."""

    default_error_messages = {
        "invalid": gettext_lazy("Must be a finite number."),
        "range": gettext_lazy("Must be from {low} to {high}."),
        "range_open": gettext_lazy("Must be greater than {low} and at most {high}."),
    }

    def __init__(self, *, low: float, high: float, exclusive_min: bool = False, **kwargs):
        self.low = low
        self.high = high
        self.exclusive_min = exclusive_min
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> float:
        if not is_finite_number(data):
            self.fail("invalid")
        below = data <= self.low if self.exclusive_min else data < self.low
        if below or data > self.high:
            self.fail("range_open" if self.exclusive_min else "range", low=self.low, high=self.high)
        return float(data)

    def to_representation(self, value):
        return value


class StopField(serializers.Field):
    """One stop sequence or a list of up to four; always returns a list."""

    default_error_messages = {
        "invalid": gettext_lazy("Must be a string or a list of up to {limit} strings."),
        "empty": gettext_lazy("Stop sequences must not be empty."),
        "too_long": gettext_lazy("A stop sequence may have at most {limit} characters."),
    }

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list) or not data or len(data) > MAX_STOP_SEQUENCES:
            self.fail("invalid", limit=MAX_STOP_SEQUENCES)
        for sequence in data:
            if not isinstance(sequence, str):
                self.fail("invalid", limit=MAX_STOP_SEQUENCES)
            if not sequence:
                self.fail("empty")
            if len(sequence) > MAX_STOP_CHARS:
                self.fail("too_long", limit=MAX_STOP_CHARS)
        return data

    def to_representation(self, value):
        return value


class ChatMessagesField(serializers.Field):
    """A list of ``{"role", "content"}`` objects in OpenAI's chat form."""

    default_error_messages = {
        "invalid": gettext_lazy("Must be a list of objects with 'role' and 'content'."),
        "empty": gettext_lazy("Must contain at least one message."),
        "keys": gettext_lazy("Message {index} must have exactly the keys 'role' and 'content'."),
        "role": gettext_lazy("Message {index} has an invalid role. Use system, user or assistant."),
        "content": gettext_lazy("Message {index} must have a non-empty string as content."),
    }

    def to_internal_value(self, data) -> list[dict]:
        if not isinstance(data, list):
            self.fail("invalid")
        if not data:
            self.fail("empty")
        limit = settings.REDGX_GENERATE_MAX_MESSAGES
        if len(data) > limit:
            message = _("Too many messages: %(count)d, the limit is %(limit)d.")
            raise too_large(self.field_name, message % {"count": len(data), "limit": limit}, "too_many_messages")
        messages = []
        for index, message in enumerate(data):
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                self.fail("keys", index=index)
            if message["role"] not in CHAT_ROLES:
                self.fail("role", index=index)
            if not isinstance(message["content"], str) or not message["content"].strip():
                self.fail("content", index=index)
            messages.append({"role": message["role"], "content": message["content"]})
        check_prompt_size(self.field_name, sum(len(message["content"]) for message in messages))
        return messages

    def to_representation(self, value):
        return value


def check_prompt_size(field_name: str, length: int) -> None:
    limit = settings.REDGX_GENERATE_MAX_PROMPT_CHARS
    if length > limit:
        message = _("The prompt has %(length)d characters, the limit is %(limit)d.")
        raise too_large(field_name, message % {"length": length, "limit": limit}, "input_too_long")


class GenerateRequestSerializer(StrictSerializer):
    prompt = StrictCharField(required=False, allow_blank=False, trim_whitespace=False)
    messages = ChatMessagesField(required=False)
    model = StrictCharField(required=False, max_length=MAX_MODEL_NAME_CHARS, trim_whitespace=False, default=None)
    max_tokens = StrictIntegerField(required=False, min_value=1, default=None)
    temperature = BoundedNumberField(low=0, high=2, required=False, default=None)
    top_p = BoundedNumberField(low=0, high=1, exclusive_min=True, required=False, default=None)
    stop = StopField(required=False, default=None)
    seed = StrictIntegerField(required=False, default=None)

    def validate_prompt(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(_("Must not be empty."))
        check_prompt_size("prompt", len(value))
        return value

    def validate_model(self, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(ord(char) < 32 for char in value)):
            raise serializers.ValidationError(_("Must be a model name without control characters."))
        return value

    def validate_max_tokens(self, value: int | None) -> int:
        limit = settings.REDGX_GENERATE_MAX_TOKENS
        if value is None:
            return min(settings.REDGX_GENERATE_DEFAULT_MAX_TOKENS, limit)
        if value > limit:
            raise serializers.ValidationError(_("Must be at most %(limit)d.") % {"limit": limit})
        return value

    def validate(self, attrs: dict) -> dict:
        has_prompt = "prompt" in attrs
        has_messages = "messages" in attrs
        if has_prompt == has_messages:
            raise serializers.ValidationError(
                {"prompt": [_("Send exactly one of 'prompt' (a string) or 'messages' (a chat).")]}
            )
        attrs.setdefault("prompt", None)
        attrs.setdefault("messages", None)
        return attrs


class TranslateRequestSerializer(StrictSerializer):
    texts = TextListField(max_items="REDGX_TRANSLATE_MAX_TEXTS", max_chars="REDGX_TRANSLATE_MAX_TEXT_CHARS")
    source = LanguageTagField()
    target = LanguageTagField()

    def validate(self, attrs: dict) -> dict:
        if attrs["source"] == attrs["target"]:
            raise serializers.ValidationError({"target": [_("Must differ from source.")]})
        return attrs


class SttRequestSerializer(StrictSerializer):
    """Audio as a multipart upload (``audio``) or as base64 in JSON (``audio_base64``)."""

    audio = UploadField(max_bytes="REDGX_STT_MAX_AUDIO_BYTES", required=False)
    audio_base64 = Base64BytesField(max_bytes="REDGX_STT_MAX_AUDIO_BYTES", required=False)
    filename = FilenameField(required=False)
    language = IsoLanguageField(required=False, default=None)
    response_format = serializers.ChoiceField(choices=RESPONSE_FORMATS, required=False, default="json")

    def validate(self, attrs: dict) -> dict:
        upload = attrs.pop("audio", None)
        encoded = attrs.pop("audio_base64", None)
        if (upload is None) == (encoded is None):
            raise serializers.ValidationError(
                {"audio": [_("Send exactly one of 'audio' (a multipart upload) or 'audio_base64' (JSON).")]}
            )
        if upload is not None:
            field_name, content, filename = "audio", upload["content"], upload["filename"]
        else:
            field_name, content, filename = "audio_base64", encoded, None
        if "filename" in attrs:
            filename = attrs["filename"]

        detected = detect_audio_type(content)
        if detected is None:
            raise serializers.ValidationError(
                {field_name: [_("Not a recognized audio file: use WAV, MP3, FLAC, Ogg, M4A or WebM.")]}
            )
        content_type, extension = detected
        return {
            "audio_base64": base64.b64encode(content).decode("ascii"),
            "filename": filename or f"audio.{extension}",
            "content_type": content_type,
            "language": attrs["language"],
            "response_format": attrs["response_format"],
        }


class OcrRequestSerializer(StrictSerializer):
    """An image or PDF as a multipart upload (``document``) or as base64 in JSON.

    The content type must agree with what the bytes are. An upload sent as
    application/octet-stream takes the detected type.
    """

    document = UploadField(max_bytes="REDGX_OCR_MAX_DOCUMENT_BYTES", required=False)
    document_base64 = Base64BytesField(max_bytes="REDGX_OCR_MAX_DOCUMENT_BYTES", required=False)
    content_type = StrictCharField(required=False, max_length=100)

    def validate(self, attrs: dict) -> dict:
        upload = attrs.get("document")
        encoded = attrs.get("document_base64")
        if (upload is None) == (encoded is None):
            raise serializers.ValidationError(
                {"document": [_("Send exactly one of 'document' (a multipart upload) or 'document_base64' (JSON).")]}
            )
        if upload is not None:
            field_name, content = "document", upload["content"]
            declared = attrs.get("content_type", upload["content_type"])
        else:
            field_name, content = "document_base64", encoded
            if "content_type" not in attrs:
                raise serializers.ValidationError(
                    {"content_type": [_("Required with document_base64: one of %(types)s.") % _types()]}
                )
            declared = attrs["content_type"]

        detected = detect_document_type(content)
        if detected is None:
            raise serializers.ValidationError(
                {field_name: [_("Not a recognized document: use PNG, JPEG, WebP, TIFF or PDF.")]}
            )
        declared = normalize_content_type(declared)
        if declared in GENERIC_CONTENT_TYPES and upload is not None:
            declared = detected
        if declared not in DOCUMENT_CONTENT_TYPES:
            raise serializers.ValidationError({"content_type": [_("Must be one of %(types)s.") % _types()]})
        if declared != detected:
            message = _("The content type is %(declared)s but the bytes are %(detected)s.")
            raise serializers.ValidationError(
                {"content_type": [message % {"declared": declared, "detected": detected}]}
            )
        return {"document_base64": base64.b64encode(content).decode("ascii"), "content_type": detected}


def _types() -> dict:
    return {"types": ", ".join(DOCUMENT_CONTENT_TYPES)}
