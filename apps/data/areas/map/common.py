"""The map area, its argument fields and serializers, and helpers its operations share."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import ResourceNotFound
from apps.api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer
from apps.tenancy.permissions import Permission

from ...operations import Area, Call, DataOperation, ListKeys, check_item_count
from ...values import ValueField, encode_values
from ..kv import IncrementArguments

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("map", redis_type="hash")
area.add(ListKeys("hash"))


class BytesField(ValueField):
    """A ValueField that returns bytes for the empty string too.

    DRF's CharField returns a blank input as ``""`` without calling ``to_internal_value``.
    """

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return value.encode() if isinstance(value, str) else value


class BytesListField(serializers.ListField):
    """A non-empty list of strings in the request's encoding, at most REDGX_MAX_ITEMS_PER_REQUEST."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", BytesField())
        kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[bytes]:
        if isinstance(data, list):
            check_item_count(data, self.field_name)
        return super().to_internal_value(data)


class FieldValuesField(serializers.DictField):
    """A non-empty JSON object of field name -> value, both in the request's encoding, as bytes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", BytesField())
        kwargs.setdefault("allow_empty", False)
        super().__init__(**kwargs)
        self.name_field = BytesField()
        self.name_field.bind(field_name="", parent=self)

    def to_internal_value(self, data) -> dict[bytes, bytes]:
        if isinstance(data, dict):
            check_item_count(data, self.field_name)
        values = super().to_internal_value(data)
        names, errors = {}, {}
        for name in values:
            try:
                names[name] = self.name_field.run_validation(name)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return {names[name]: value for name, value in values.items()}


def check_count(value: int) -> int:
    """Reject a count whose reply could hold more than REDGX_MAX_ITEMS_PER_REQUEST items."""
    limit = settings.REDGX_MAX_ITEMS_PER_REQUEST
    if abs(value) > limit:
        raise serializers.ValidationError(_("Must be between -%(limit)d and %(limit)d.") % {"limit": limit})
    return value


class NoArguments(StrictSerializer):
    """Rejects every argument, so a request that forgot its ``op`` does not silently run the default."""


class ScanArguments(StrictSerializer):
    cursor = serializers.RegexField(r"^\d{1,20}$", required=False, default="0")
    pattern = BytesField(required=False, default=b"*", help_text="glob pattern, in the request's encoding")
    count = StrictIntegerField(required=False, default=100, min_value=1, max_value=1000, help_text="a hint")


class SetArguments(StrictSerializer):
    fields = FieldValuesField(help_text="field name -> value")
    nx = StrictBooleanField(required=False, default=False, help_text="write one field only if it is new (HSETNX)")

    def validate(self, attrs: dict) -> dict:
        if attrs["nx"] and len(attrs["fields"]) != 1:
            raise serializers.ValidationError({"fields": [_("With nx, give exactly one field.")]})
        return attrs


class FieldArguments(StrictSerializer):
    field = BytesField()


class FieldListArguments(StrictSerializer):
    field = BytesListField()


class FieldIncrementArguments(IncrementArguments):
    field = BytesField()


class RandomFieldArguments(StrictSerializer):
    count = StrictIntegerField(required=False, help_text="negative: fields may repeat")
    withvalues = StrictBooleanField(required=False, default=False)

    def validate_count(self, value: int) -> int:
        return check_count(value)


class HashOperation(DataOperation):
    """Base of the map operations: a read of one hash. Writes set their own method and permission."""

    method, permission = "GET", READ
    redis_type = "hash"
    serializer_class = NoArguments


def flat_pairs(reply) -> list[bytes]:
    """Return a reply of field-value pairs as a flat list ``[name, value, ...]``.

    Over RESP3, which the data client speaks, Redis sends HGETALL as a map and HRANDFIELD
    WITHVALUES as a list of pairs. Over RESP2, and so inside the atomic pipeline's Lua
    script, both are flat lists.
    """
    if isinstance(reply, dict):
        return [part for pair in reply.items() for part in pair]
    if reply and isinstance(reply[0], list):
        return [part for pair in reply for part in pair]
    return list(reply)


def encode_fields(names: list[bytes], values: list[bytes], requested: str) -> tuple[dict, str]:
    """Encode names and values with one encoding, returning ``({name: value}, encoding)``."""
    texts, encoding = encode_values([*names, *values], requested)
    return dict(zip(texts[: len(names)], texts[len(names) :], strict=True)), encoding


def key_not_found(call: Call) -> ResourceNotFound:
    return ResourceNotFound(_("Key '%(key)s' not found.") % {"key": call.key}, code="key_not_found")


def field_not_found(call: Call) -> ResourceNotFound:
    return ResourceNotFound(_("Key '%(key)s' has no such field.") % {"key": call.key}, code="field_not_found")
