"""Map operations that change a hash: set, del, incr."""

from django.utils.translation import gettext_lazy as _

from ...operations import Call
from ..kv import increment_value
from .common import (
    WRITE,
    FieldIncrementArguments,
    FieldListArguments,
    HashOperation,
    SetArguments,
    area,
)

INCREMENT_ERRORS = {
    "hash value is not an integer": ("not_integer", _("The field's value is not an integer.")),
    "increment or decrement would overflow": ("overflow", _("The increment would overflow a 64-bit integer.")),
    "hash value is not a float": ("not_float", _("The field's value is not a number.")),
    "increment would produce NaN or Infinity": ("not_finite", _("The increment would produce NaN or infinity.")),
}


@area.register
class Set(HashOperation):
    """``PUT /map/{key}`` with ``{"fields": {...}}``: HSET, or HSETNX of the one field with ``nx``.

    ``added`` counts the fields that did not exist before. With ``nx``, 0 means the field
    existed and was left unchanged.
    """

    name, method, permission, default = "set", "PUT", WRITE, True
    serializer_class = SetArguments

    def commands(self, call: Call):
        fields = call.args["fields"]
        if call.args["nx"]:
            ((name, value),) = fields.items()
            return [("HSETNX", call.redis_key, name, value)]
        return [("HSET", call.redis_key, *(part for pair in fields.items() for part in pair))]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "added": replies[0]}


@area.register
class DeleteFields(HashOperation):
    """``DELETE ?op=del&field=a&field=b``: HDEL; ``deleted`` counts the fields that existed.

    Redis deletes the key together with its last field.
    """

    name, method, permission = "del", "DELETE", WRITE
    serializer_class = FieldListArguments

    def commands(self, call: Call):
        return [("HDEL", call.redis_key, *call.args["field"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "deleted": replies[0]}


@area.register
class Increment(HashOperation):
    """``POST ?op=incr`` with ``{"field", "by"}``: HINCRBY, or HINCRBYFLOAT when ``by`` is a float.

    A missing field or key counts as 0. A stored value that is not a number returns 409
    ``not_integer`` or ``not_float``, and a result past the 64-bit range 409 ``overflow``.
    """

    name, method, permission = "incr", "POST", WRITE
    serializer_class = FieldIncrementArguments
    error_codes = INCREMENT_ERRORS

    def commands(self, call: Call):
        by = call.args["by"]
        if isinstance(by, float):
            return [("HINCRBYFLOAT", call.redis_key, call.args["field"], repr(by))]
        return [("HINCRBY", call.redis_key, call.args["field"], by)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "value": increment_value(replies[0])}
