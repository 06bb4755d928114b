"""Key commands every area shares: delete, exists, type-independent expiry."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer
from apps.tenancy.permissions import Permission

from ..operations import Area, Call, DataOperation

# Redis rejects expiry times past this many milliseconds (about 292 million years).
MAX_TTL_MS = 2**62


def ttl_or_none(pttl: int) -> int | None:
    """PTTL's -1 (no expiry) and -2 (no key) both mean "no TTL" to a client."""
    return pttl if pttl >= 0 else None


class ExpireArguments(StrictSerializer):
    ttl = StrictIntegerField(required=False, min_value=0, max_value=MAX_TTL_MS // 1000, help_text="seconds")
    ttl_ms = StrictIntegerField(required=False, min_value=0, max_value=MAX_TTL_MS, help_text="milliseconds")
    nx = StrictBooleanField(required=False, default=False, help_text="only if the key has no TTL")
    xx = StrictBooleanField(required=False, default=False, help_text="only if the key has a TTL")
    gt = StrictBooleanField(required=False, default=False, help_text="only if the new TTL is greater")
    lt = StrictBooleanField(required=False, default=False, help_text="only if the new TTL is less")

    def validate(self, attrs: dict) -> dict:
        if ("ttl" in attrs) == ("ttl_ms" in attrs):
            raise serializers.ValidationError({"ttl": [_("Give exactly one of ttl and ttl_ms.")]})
        conditions = [name for name in ("nx", "xx", "gt", "lt") if attrs[name]]
        if len(conditions) > 1 and set(conditions) != {"xx", "gt"} and set(conditions) != {"xx", "lt"}:
            raise serializers.ValidationError({conditions[-1]: [_("Only xx may be combined with gt or lt.")]})
        return attrs


class Delete(DataOperation):
    """``DELETE /{area}/{key}``: DEL. Deleting a missing key returns ``deleted: 0``."""

    name, method, permission, default = "delete", "DELETE", Permission.WRITE, True

    def commands(self, call: Call):
        return [("DEL", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "deleted": replies[0]}


class Exists(DataOperation):
    """``GET ?op=exists``: EXISTS."""

    name, method, permission = "exists", "GET", Permission.READ

    def commands(self, call: Call):
        return [("EXISTS", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "exists": bool(replies[0])}


class Ttl(DataOperation):
    """``GET ?op=ttl``: PTTL. A missing key returns ``exists: false``."""

    name, method, permission = "ttl", "GET", Permission.READ

    def commands(self, call: Call):
        return [("PTTL", call.redis_key)]

    def result(self, call: Call, replies: list):
        pttl = replies[0]
        return {"key": call.key, "exists": pttl != -2, "ttl_ms": ttl_or_none(pttl)}


class Expire(DataOperation):
    """``POST ?op=expire``: PEXPIRE with NX/XX/GT/LT. A TTL of 0 deletes the key, as in Redis."""

    name, method, permission = "expire", "POST", Permission.WRITE
    serializer_class = ExpireArguments

    def commands(self, call: Call):
        args = call.args
        ttl_ms = args["ttl_ms"] if "ttl_ms" in args else args["ttl"] * 1000
        command = ["PEXPIRE", call.redis_key, ttl_ms]
        command += [name.upper() for name in ("nx", "xx", "gt", "lt") if args[name]]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "applied": replies[0] == 1}


class Persist(DataOperation):
    """``POST ?op=persist``: PERSIST, removing the key's TTL."""

    name, method, permission = "persist", "POST", Permission.WRITE

    def commands(self, call: Call):
        return [("PERSIST", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "persisted": replies[0] == 1}


GENERIC_OPERATIONS = [Delete, Exists, Ttl, Expire, Persist]


def add_generic_operations(area: Area) -> None:
    """Give an area the shared key commands it does not define itself."""
    defaults = {method for method, _name in area.key_operations if area.key_operations[(method, _name)].default}
    for operation_class in GENERIC_OPERATIONS:
        operation = operation_class()
        if (operation.method, operation.name) in area.key_operations:
            continue
        if operation.default and operation.method in defaults:
            operation.default = False
        area.add(operation)
