"""Serializer fields that accept only the JSON type they name.

DRF's own fields coerce: "5" becomes 5, 1 becomes "1", "yes" becomes True. An API
that mirrors Redis must not guess, so these fields reject anything but the exact type.
"""

import math

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": _("Must be a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_internal_value(self, data):
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
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictNumberField(serializers.Field):
    """A JSON integer or a finite float."""

    default_error_messages = {"invalid": _("Must be a finite number.")}

    def to_internal_value(self, data):
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
