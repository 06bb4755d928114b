"""Encoding of values: UTF-8 text by default, base64 when the client asks for it.

Values that are not valid UTF-8 come back as base64 even when UTF-8 was requested, and
the response says so in its ``encoding`` field.
"""

import base64
import binascii

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictCharField

ENCODINGS = ("utf-8", "base64")


def encode_value(raw: bytes, requested: str = "utf-8") -> dict:
    """Return ``{"value": text, "encoding": ...}`` for one stored value."""
    values, encoding = encode_values([raw], requested)
    return {"value": values[0], "encoding": encoding}


def encode_values(raws: list[bytes], requested: str = "utf-8") -> tuple[list[str], str]:
    """Encode several values with one encoding, falling back to base64 for all if one is binary."""
    if requested == "utf-8":
        try:
            return [raw.decode("utf-8") for raw in raws], "utf-8"
        except UnicodeDecodeError:
            pass
    return [base64.b64encode(raw).decode("ascii") for raw in raws], "base64"


def decode_value(text: str, encoding: str) -> bytes:
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise serializers.ValidationError(_("Not valid base64.")) from exc
    return text.encode("utf-8")


class ValueField(StrictCharField):
    """A value in the request's encoding, returned as bytes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        # CharField returns a blank string as "" without calling to_internal_value.
        value = super().run_validation(data)
        return value.encode() if isinstance(value, str) else value

    def to_internal_value(self, data) -> bytes:
        text = super().to_internal_value(data)
        raw = decode_value(text, self.context.get("encoding", "utf-8"))
        if len(raw) > settings.REDGX_MAX_VALUE_BYTES:
            raise PayloadTooLarge(
                _("A value is larger than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_VALUE_BYTES}
            )
        return raw
