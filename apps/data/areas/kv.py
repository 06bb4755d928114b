"""KV: Redis strings."""

import math

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import InvalidInput, ResourceNotFound
from apps.api.fields import (
    INT64_MAX,
    INT64_MIN,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictNumberField,
    StrictSerializer,
)
from apps.tenancy.permissions import Permission

from ..operations import Area, Call, DataOperation, ListKeys
from ..values import ValueField, check_item_count, encode_value, encode_values
from .generic import MAX_TTL_MS, ttl_or_none

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("kv", redis_type="string")
area.add(ListKeys("string"))

INCREMENT_ERRORS = {
    "value is not an integer or out of range": ("not_integer", _("The stored value is not an integer.")),
    "increment or decrement would overflow": ("overflow", _("The increment would overflow a 64-bit integer.")),
    "value is not a valid float": ("not_float", _("The stored value is not a number.")),
    "increment would produce NaN or Infinity": ("not_finite", _("The increment would produce NaN or infinity.")),
}


def increment_value(reply: int | bytes) -> int | float | str:
    """Convert an INCRBY, INCRBYFLOAT, HINCRBY or HINCRBYFLOAT reply to its JSON value.

    Redis keeps floats as long double text, which may exceed a double's range. JSON
    cannot carry infinity, so such a value stays text.
    """
    if isinstance(reply, bytes):
        number = float(reply)
        return number if math.isfinite(number) else reply.decode()
    return reply


class SetArguments(StrictSerializer):
    value = ValueField()
    ttl = StrictIntegerField(required=False, min_value=1, max_value=MAX_TTL_MS // 1000, help_text="seconds")
    ttl_ms = StrictIntegerField(required=False, min_value=1, max_value=MAX_TTL_MS, help_text="milliseconds")
    nx = StrictBooleanField(required=False, default=False)
    xx = StrictBooleanField(required=False, default=False)
    keepttl = StrictBooleanField(required=False, default=False)
    get = StrictBooleanField(required=False, default=False, help_text="return the previous value")

    def validate(self, attrs: dict) -> dict:
        expiry = [name for name in ("ttl", "ttl_ms") if name in attrs] + (["keepttl"] if attrs["keepttl"] else [])
        if len(expiry) > 1:
            raise serializers.ValidationError({expiry[-1]: [_("Give only one of ttl, ttl_ms and keepttl.")]})
        if attrs["nx"] and attrs["xx"]:
            raise serializers.ValidationError({"xx": [_("nx and xx cannot both be true.")]})
        return attrs


class IncrementArguments(StrictSerializer):
    by = StrictNumberField(required=False, default=1)

    def validate_by(self, value: int | float) -> int | float:
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise serializers.ValidationError(_("Must fit in a signed 64-bit integer."))
        return value


@area.register
class Get(DataOperation):
    name, method, permission, default = "get", "GET", READ, True
    redis_type = "string"

    def commands(self, call: Call):
        return [("GET", call.redis_key), ("PTTL", call.redis_key)]

    def result(self, call: Call, replies: list):
        raw, pttl = replies
        if raw is None:
            raise ResourceNotFound(_("Key '%(key)s' not found.") % {"key": call.key}, code="key_not_found")
        return {"key": call.key, **encode_value(raw, call.encoding), "ttl_ms": ttl_or_none(pttl)}


@area.register
class Set(DataOperation):
    name, method, permission, default = "set", "PUT", WRITE, True
    redis_type = "string"
    serializer_class = SetArguments

    def typed_keys(self, call: Call) -> list[str]:
        # SET replaces a value of any type, as in Redis.
        return []

    def commands(self, call: Call):
        args = call.args
        command = ["SET", call.redis_key, args["value"]]
        if "ttl" in args:
            command += ["EX", args["ttl"]]
        if "ttl_ms" in args:
            command += ["PX", args["ttl_ms"]]
        if args["keepttl"]:
            command.append("KEEPTTL")
        if args["nx"]:
            command.append("NX")
        if args["xx"]:
            command.append("XX")
        if args["get"]:
            command.append("GET")
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        (reply,) = replies
        if not call.args["get"]:
            return {"key": call.key, "written": reply is not None}
        # With GET, Redis returns the old value (or nil) and does not report whether NX/XX wrote.
        previous = encode_value(reply, call.encoding) if reply is not None else {"value": None}
        return {"key": call.key, "previous": previous["value"], "encoding": previous.get("encoding", call.encoding)}


class _Add(DataOperation):
    method, permission = "POST", WRITE
    redis_type = "string"
    serializer_class = IncrementArguments
    error_codes = INCREMENT_ERRORS
    sign = 1

    def commands(self, call: Call):
        amount = self.sign * call.args["by"]
        if isinstance(amount, float):
            return [("INCRBYFLOAT", call.redis_key, repr(amount))]
        if not INT64_MIN <= amount <= INT64_MAX:
            # Only decr by the minimum integer gets here: its negation does not fit.
            raise InvalidInput(_("'by' must fit in a signed 64-bit integer."), code="invalid")
        return [("INCRBY", call.redis_key, amount)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "value": increment_value(replies[0])}


@area.register
class Increment(_Add):
    name = "incr"


@area.register
class Decrement(_Add):
    name = "decr"
    sign = -1


class KeyNamesArguments(StrictSerializer):
    key = serializers.ListField(child=StrictCharField(trim_whitespace=False), min_length=1)

    def validate_key(self, names: list[str]) -> list[str]:
        check_item_count(names, "key")
        return names


class SetManyArguments(StrictSerializer):
    items = serializers.DictField(child=ValueField(), allow_empty=False, help_text="key name -> value")
    nx = StrictBooleanField(required=False, default=False, help_text="write none unless no key exists (MSETNX)")

    def validate_items(self, items: dict) -> dict:
        check_item_count(items, "items")
        return items


@area.register
class GetMany(DataOperation):
    """``GET /kv/?op=mget&key=a&key=b``: MGET. Missing keys and keys of other types come back as null."""

    name, method, permission, collection = "mget", "GET", READ, True
    serializer_class = KeyNamesArguments

    def keys(self, call: Call) -> list[str]:
        return [call.other_key(name) for name in call.args["key"]]

    def commands(self, call: Call):
        return [("MGET", *self.keys(call))]

    def result(self, call: Call, replies: list):
        raws = replies[0]
        present = [raw for raw in raws if raw is not None]
        texts, encoding = encode_values(present, call.encoding)
        values = iter(texts)
        return {
            "values": {
                name: (next(values) if raw is not None else None)
                for name, raw in zip(call.args["key"], raws, strict=True)
            },
            "encoding": encoding,
        }


@area.register
class SetMany(DataOperation):
    """``POST /kv/?op=mset``: MSET, or MSETNX with ``nx``, which writes all or none."""

    name, method, permission, collection = "mset", "POST", WRITE, True
    redis_type = "string"
    serializer_class = SetManyArguments

    def keys(self, call: Call) -> list[str]:
        return [call.other_key(name) for name in call.args["items"]]

    def typed_keys(self, call: Call) -> list[str]:
        # MSET replaces values of any type, as in Redis.
        return []

    def commands(self, call: Call):
        pairs = [part for name, raw in call.args["items"].items() for part in (call.other_key(name), raw)]
        return [("MSETNX" if call.args["nx"] else "MSET", *pairs)]

    def result(self, call: Call, replies: list):
        written = replies[0] in (1, b"OK")
        return {"written": written, "count": len(call.args["items"]) if written else 0}


@area.register
class DeleteMany(DataOperation):
    """``DELETE /kv/?key=a&key=b``: DEL of several keys of any type; returns how many existed."""

    name, method, permission, default, collection = "delete", "DELETE", WRITE, True, True
    serializer_class = KeyNamesArguments

    def keys(self, call: Call) -> list[str]:
        return [call.other_key(name) for name in call.args["key"]]

    def commands(self, call: Call):
        return [("DEL", *self.keys(call))]

    def result(self, call: Call, replies: list):
        return {"deleted": replies[0]}
