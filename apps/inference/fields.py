"""Serializer fields shared by the inference task serializers.

A value over a size limit raises PayloadTooLarge (413) with ``fields`` naming the field.
Every other bad value raises a ValidationError (400) under the field's name.
"""

import base64
import binascii
import math
import re

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge

# language[-Script][-REGION] from BCP 47: "en", "pt-BR", "zh-Hans-CN", "es-419". Variants
# and extensions are not accepted, because no engine protocol RedGX speaks uses them.
_BCP47 = re.compile(r"([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?\Z")
_ISO639_1 = re.compile(r"[A-Za-z]{2}\Z")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def too_large(field_name: str, message: str, code: str) -> PayloadTooLarge:
    """Build a 413 error whose message and ``fields`` name the field."""
    error = PayloadTooLarge(
        _("Invalid '%(field)s': %(error)s") % {"field": field_name, "error": message},
        code=code,
    )
    error.fields = {field_name: [message]}
    return error


def is_finite_number(value) -> bool:
    """True for a JSON int or finite float; False for bool, NaN and the infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))


class TextListField(serializers.Field):
    """One non-empty string, or a non-empty list of them; always returns a list.

    ``max_items`` and ``max_chars`` name settings, read at validation time so a changed
    setting applies without reloading the module.
    """

    default_error_messages = {
        "invalid": gettext_lazy("Must be a string or a list of strings."),
        "empty_list": gettext_lazy("Must contain at least one item."),
        "empty_item": gettext_lazy("Item {index} is empty."),
        "not_string": gettext_lazy("Item {index} is not a string."),
    }
    # Formatted at validation time, so a subclass may reword them for its own items.
    too_many_items_message = gettext_lazy("Too many items: %(count)d, the limit is %(limit)d.")
    item_too_long_message = gettext_lazy("Item %(index)d has %(length)d characters, the limit is %(limit)d.")

    def __init__(self, *, max_items: str, max_chars: str, **kwargs):
        self.max_items_setting = max_items
        self.max_chars_setting = max_chars
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[str]:
        max_items = getattr(settings, self.max_items_setting)
        max_chars = getattr(settings, self.max_chars_setting)
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list):
            self.fail("invalid")
        if not data:
            self.fail("empty_list")
        if len(data) > max_items:
            message = self.too_many_items_message % {"count": len(data), "limit": max_items}
            raise too_large(self.field_name, message, "too_many_inputs")
        for index, text in enumerate(data):
            if not isinstance(text, str):
                self.fail("not_string", index=index)
            if not text.strip():
                self.fail("empty_item", index=index)
            if len(text) > max_chars:
                message = self.item_too_long_message % {"index": index, "length": len(text), "limit": max_chars}
                raise too_large(self.field_name, message, "input_too_long")
        return data

    def to_representation(self, value):
        return value


class LanguageTagField(serializers.Field):
    """A BCP 47 language tag (language, optional script and region), in canonical case."""

    default_error_messages = {
        "invalid": gettext_lazy(
            "Must be a BCP 47 language tag such as 'en' or 'pt-BR' (language, optional script, optional region)."
        ),
    }

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        match = _BCP47.match(data)
        if match is None:
            self.fail("invalid")
        language, script, region = match.groups()
        parts = [language.lower()]
        if script:
            parts.append(script.title())
        if region:
            parts.append(region.upper())
        return "-".join(parts)

    def to_representation(self, value):
        return value


class IsoLanguageField(serializers.Field):
    """A two-letter ISO 639-1 language code such as 'en', returned in lower case."""

    default_error_messages = {"invalid": gettext_lazy("Must be a two-letter ISO 639-1 language code such as 'en'.")}

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str) or not _ISO639_1.match(data):
            self.fail("invalid")
        return data.lower()

    def to_representation(self, value):
        return value


class FilenameField(serializers.Field):
    """A file name without directories or control characters, at most 255 characters."""

    default_error_messages = {
        "invalid": gettext_lazy("Must be a file name of 1 to 255 characters without '/', '\\' or control characters."),
    }

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str) or not 0 < len(data) <= 255:
            self.fail("invalid")
        if "/" in data or "\\" in data or _CONTROL_CHARS.search(data) or data in {".", ".."}:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class UploadField(serializers.Field):
    """A multipart file upload, returned as its bytes with its file name and content type.

    ``max_bytes`` names the setting that bounds the upload before it is read into memory.
    """

    default_error_messages = {
        "invalid": gettext_lazy("Must be a file sent as multipart/form-data; JSON bodies use the _base64 field."),
        "empty": gettext_lazy("The file is empty."),
    }

    def __init__(self, *, max_bytes: str, **kwargs):
        self.max_bytes_setting = max_bytes
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> dict:
        max_bytes = getattr(settings, self.max_bytes_setting)
        if not isinstance(data, UploadedFile):
            self.fail("invalid")
        if data.size is not None and data.size > max_bytes:
            raise too_large(self.field_name, file_too_large_message(data.size, max_bytes), "file_too_large")
        content = data.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise too_large(self.field_name, file_too_large_message(len(content), max_bytes), "file_too_large")
        if not content:
            self.fail("empty")
        return {"content": content, "filename": data.name or "", "content_type": data.content_type or ""}

    def to_representation(self, value):
        return None


class Base64BytesField(serializers.Field):
    """Standard base64 text (RFC 4648, with padding), returned as the decoded bytes.

    ``max_bytes`` names the setting that bounds the decoded size.
    """

    default_error_messages = {
        "invalid": gettext_lazy("Must be a string of standard base64 (RFC 4648) with padding."),
        "empty": gettext_lazy("The decoded content is empty."),
    }

    def __init__(self, *, max_bytes: str, **kwargs):
        self.max_bytes_setting = max_bytes
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> bytes:
        max_bytes = getattr(settings, self.max_bytes_setting)
        if not isinstance(data, str):
            self.fail("invalid")
        # Checked before decoding, so an oversized value costs no decoding work.
        estimated_size = len(data) * 3 // 4
        if estimated_size > max_bytes + 2:
            raise too_large(self.field_name, file_too_large_message(estimated_size, max_bytes), "file_too_large")
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")
        if len(content) > max_bytes:
            raise too_large(self.field_name, file_too_large_message(len(content), max_bytes), "file_too_large")
        if not content:
            self.fail("empty")
        return content

    def to_representation(self, value):
        return None


def file_too_large_message(size: int, limit: int) -> str:
    return _("The file is %(size)d bytes, the limit is %(limit)d bytes.") % {"size": size, "limit": limit}
