"""Encoding of values: UTF-8 text by default, base64 when the client asks for it.

Values that are not valid UTF-8 come back as base64 even when UTF-8 was requested, and
the response's ``encoding`` field names the encoding used.
"""

import base64
import binascii

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictCharField

ENCODINGS = ("utf-8", "base64")


def check_item_count(items, field_name: str) -> None:
    """Raise 413 when a request carries more items than REDGX_MAX_ITEMS_PER_REQUEST."""
    if len(items) > settings.REDGX_MAX_ITEMS_PER_REQUEST:
        raise PayloadTooLarge(
            _("'%(field)s' has %(count)d items, the limit is %(limit)d.")
            % {"field": field_name, "count": len(items), "limit": settings.REDGX_MAX_ITEMS_PER_REQUEST},
            code="too_many_items",
        )


def encode_value(raw: bytes, requested: str = "utf-8") -> dict:
    """Return ``{"value": text, "encoding": ...}`` for one stored value, as ``encode_values`` encodes it."""
    if requested == "utf-8":
        try:
            return {"value": raw.decode("utf-8"), "encoding": "utf-8"}
        except UnicodeDecodeError:
            pass
    return {"value": base64.b64encode(raw).decode("ascii"), "encoding": "base64"}


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


class ValueListField(serializers.ListField):
    """One or more values in the request's encoding, at most REDGX_MAX_ITEMS_PER_REQUEST."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", ValueField())
        kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[bytes]:
        # Counted before the values are decoded, so an oversized list costs no decoding.
        if isinstance(data, list):
            check_item_count(data, self.field_name)
        return super().to_internal_value(data)


class EncodedKeysDictField(serializers.DictField):
    """A non-empty JSON object whose keys are values in the request's encoding (hash field
    names, sorted set members); returns ``{bytes: child value}``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_empty", False)
        super().__init__(**kwargs)
        self.key_field = ValueField()
        self.key_field.bind(field_name="", parent=self)

    def to_internal_value(self, data) -> dict:
        if isinstance(data, dict):
            check_item_count(data, self.field_name)
        values = super().to_internal_value(data)
        decoded, errors = {}, {}
        for text, value in values.items():
            try:
                decoded[self.key_field.run_validation(text)] = value
            except serializers.ValidationError as exc:
                errors[text] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return decoded


def check_reply_count(value: int) -> int:
    """Reject a count whose reply could hold more than REDGX_MAX_ITEMS_PER_REQUEST items.

    Negative counts are allowed where Redis reads them as "may repeat" (SRANDMEMBER,
    HRANDFIELD, ZRANDMEMBER), so the bound is on the absolute value.
    """
    limit = settings.REDGX_MAX_ITEMS_PER_REQUEST
    if abs(value) > limit:
        raise serializers.ValidationError(_("Must be between -%(limit)d and %(limit)d.") % {"limit": limit})
    return value
