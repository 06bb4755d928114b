"""The map area, its argument fields and serializers, and helpers its operations share."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import ResourceNotFound
from apps.api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer
from apps.tenancy.permissions import Permission

from ...operations import Area, Call, DataOperation, ListKeys
from ...values import EncodedKeysDictField, ValueField, ValueListField, check_reply_count, encode_values
from ..kv import IncrementArguments

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("map", redis_type="hash")
area.add(ListKeys("hash"))


class ScanArguments(StrictSerializer):
    cursor = serializers.RegexField(r"^\d{1,20}$", required=False, default="0")
    pattern = ValueField(required=False, default=b"*", help_text="glob pattern, in the request's encoding")
    count = StrictIntegerField(required=False, default=100, min_value=1, max_value=1000, help_text="a hint")


class SetArguments(StrictSerializer):
    fields = EncodedKeysDictField(child=ValueField(), help_text="field name -> value")
    nx = StrictBooleanField(required=False, default=False, help_text="write one field only if it is new (HSETNX)")

    def validate(self, attrs: dict) -> dict:
        if attrs["nx"] and len(attrs["fields"]) != 1:
            raise serializers.ValidationError({"fields": [_("With nx, give exactly one field.")]})
        return attrs


class FieldArguments(StrictSerializer):
    field = ValueField()


class FieldListArguments(StrictSerializer):
    field = ValueListField()


class FieldIncrementArguments(IncrementArguments):
    field = ValueField()


class RandomFieldArguments(StrictSerializer):
    count = StrictIntegerField(required=False, help_text="negative: fields may repeat")
    withvalues = StrictBooleanField(required=False, default=False)

    def validate_count(self, value: int) -> int:
        return check_reply_count(value)


class HashOperation(DataOperation):
    """Base of the map operations: a read of one hash. Writes set their own method and permission."""

    method, permission = "GET", READ
    redis_type = "hash"


def flat_pairs(reply) -> list[bytes]:
    """Return a reply of field-value pairs as a flat list ``[name, value, ...]``.

    Over RESP2, which the data role is pinned to, and inside the atomic pipeline's Lua
    script, both HGETALL and HRANDFIELD WITHVALUES are flat lists. Over RESP3 they would be
    a map and a list of pairs; both shapes are read.
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
