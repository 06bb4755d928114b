"""Serializer fields that accept only the JSON type they name.

In a query string every value is text, so a serializer given ``context={"from_query": True}``
accepts the text forms too: ``5``, ``true``, ``1.5``, ``inf``.

DRF's own fields coerce: "5" becomes 5, 1 becomes "1", "yes" becomes True. An API
that mirrors Redis must not guess, so these fields reject anything but the exact type.
"""

import math
import re

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,20}\Z")
_BOOLEAN_TEXT = {"true": True, "1": True, "false": False, "0": False}


def from_query(field: serializers.Field) -> bool:
    return bool(field.context.get("from_query"))


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": _("Must be a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": _("Must be true or false.")}
    # DRF reads a boolean missing from form or query data as False; use the default instead.
    default_empty_html = serializers.empty

    def to_internal_value(self, data):
        if isinstance(data, str) and from_query(self) and data.lower() in _BOOLEAN_TEXT:
            return _BOOLEAN_TEXT[data.lower()]
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer within Redis's signed 64-bit range unless narrower bounds are given."""

    default_error_messages = {"invalid": _("Must be an integer.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and from_query(self) and _INTEGER_TEXT.match(data):
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictNumberField(serializers.Field):
    """A JSON integer or a finite float."""

    default_error_messages = {"invalid": _("Must be a finite number.")}

    def to_internal_value(self, data):
        if isinstance(data, str) and from_query(self):
            data = _parse_number(data)
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class StrictSerializer(serializers.Serializer):
    """Rejects bodies that are not JSON objects or carry fields it does not know."""

    default_error_messages = {"unknown_fields": _("Unknown field(s): %(names)s.")}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown field.")] for name in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


def _parse_number(text: str) -> int | float | None:
    if _INTEGER_TEXT.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return None
