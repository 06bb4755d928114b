"""Serializer fields that accept only the JSON type they name.

In a query string every value is text, so a serializer given ``context={"from_query": True}``
accepts the text forms too: ``5``, ``true``, ``1.5``, ``inf``.

DRF's own fields coerce: "5" becomes 5, 1 becomes "1", "yes" becomes True. An API
that mirrors Redis must not guess, so these fields reject anything but the exact type.
"""

import math
import re
import threading

from django.utils.functional import cached_property
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


# Per thread: serializer class -> the bound fields of its last top-level instance.
_reusable_fields = threading.local()


class StrictSerializer(serializers.Serializer):
    """Rejects bodies that are not JSON objects or carry fields it does not know.

    A top-level instance reuses the fields that the thread's previous instance of the same
    class built. DRF deep-copies every declared field for each new serializer, which took
    about 70% of the CPU time of a 100-operation pipeline request (py-spy,
    docs/benchmarks.md). Validation keeps no state on fields, so reuse is safe within one
    thread once the fields point at the new instance, whose context they then read.
    """

    default_error_messages = {"unknown_fields": _("Unknown field(s): %(names)s.")}

    @cached_property
    def fields(self):
        if self.parent is not None:
            # A nested serializer belongs to its parent's fields, which are reused as a whole.
            return super().fields
        cache = _reusable_fields.__dict__
        fields = cache.get(type(self))
        if fields is None:
            fields = cache[type(self)] = super().fields
        else:
            fields.serializer = self
            for field in fields.values():
                field.parent = self
        return fields

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
