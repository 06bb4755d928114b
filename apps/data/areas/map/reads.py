"""Map operations that read a hash."""

from ...operations import Call
from ...values import encode_values
from .common import (
    FieldArguments,
    FieldListArguments,
    HashOperation,
    RandomFieldArguments,
    ScanArguments,
    area,
    encode_fields,
    field_not_found,
    flat_pairs,
    key_not_found,
)


@area.register
class GetAll(HashOperation):
    """``GET /map/{key}``: HGETALL. A missing key returns an empty ``fields`` object.

    NOTE: the whole hash comes back in one response however large it is, as with
    ``keys`` and ``vals``. Page through big hashes with ``scan``.
    """

    name, default = "getall", True

    def commands(self, call: Call):
        return [("HGETALL", call.redis_key)]

    def result(self, call: Call, replies: list):
        flat = flat_pairs(replies[0])
        fields, encoding = encode_fields(flat[0::2], flat[1::2], call.encoding)
        return {"key": call.key, "fields": fields, "encoding": encoding}


@area.register
class Get(HashOperation):
    """``GET ?op=get&field=f``: HGET. A missing field or key returns 404 ``field_not_found``."""

    name = "get"
    serializer_class = FieldArguments

    def commands(self, call: Call):
        return [("HGET", call.redis_key, call.args["field"])]

    def result(self, call: Call, replies: list):
        raw = replies[0]
        if raw is None:
            raise field_not_found(call)
        (value,), encoding = encode_values([raw], call.encoding)
        return {"key": call.key, "value": value, "encoding": encoding}


@area.register
class GetMany(HashOperation):
    """``GET ?op=mget&field=a&field=b``: HMGET. ``fields`` maps each name to its value, null if missing."""

    name = "mget"
    serializer_class = FieldListArguments

    def commands(self, call: Call):
        return [("HMGET", call.redis_key, *call.args["field"])]

    def result(self, call: Call, replies: list):
        names, raws = call.args["field"], replies[0]
        present = [raw for raw in raws if raw is not None]
        texts, encoding = encode_values(names + present, call.encoding)
        values = iter(texts[len(names) :])
        fields = {
            name: (next(values) if raw is not None else None)
            for name, raw in zip(texts[: len(names)], raws, strict=True)
        }
        return {"key": call.key, "fields": fields, "encoding": encoding}


@area.register
class FieldExists(HashOperation):
    """``GET ?op=hexists&field=f``: HEXISTS; false for a missing key too."""

    name = "hexists"
    serializer_class = FieldArguments

    def commands(self, call: Call):
        return [("HEXISTS", call.redis_key, call.args["field"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "exists": replies[0] == 1}


@area.register
class Length(HashOperation):
    """``GET ?op=len``: HLEN, the number of fields; 0 for a missing key."""

    name = "len"

    def commands(self, call: Call):
        return [("HLEN", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "length": replies[0]}


@area.register
class FieldNames(HashOperation):
    """``GET ?op=keys``: HKEYS; an empty list for a missing key."""

    name = "keys"

    def commands(self, call: Call):
        return [("HKEYS", call.redis_key)]

    def result(self, call: Call, replies: list):
        names, encoding = encode_values(replies[0], call.encoding)
        return {"key": call.key, "fields": names, "encoding": encoding}


@area.register
class Values(HashOperation):
    """``GET ?op=vals``: HVALS; an empty list for a missing key."""

    name = "vals"

    def commands(self, call: Call):
        return [("HVALS", call.redis_key)]

    def result(self, call: Call, replies: list):
        values, encoding = encode_values(replies[0], call.encoding)
        return {"key": call.key, "values": values, "encoding": encoding}


@area.register
class ValueLength(HashOperation):
    """``GET ?op=strlen&field=f``: HSTRLEN, the value's length in bytes; 0 for a missing field or key."""

    name = "strlen"
    serializer_class = FieldArguments

    def commands(self, call: Call):
        return [("HSTRLEN", call.redis_key, call.args["field"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "length": replies[0]}


@area.register
class RandomFields(HashOperation):
    """``GET ?op=randfield&count=3&withvalues=true``: HRANDFIELD.

    Without ``count``: one ``field`` (and its ``value``), or 404 ``key_not_found`` for a
    missing key. With ``count``: a ``fields`` list (and a ``values`` list in the same
    order), empty for a missing key. A negative count may repeat fields, as in Redis.
    """

    name = "randfield"
    serializer_class = RandomFieldArguments

    def commands(self, call: Call):
        # Send a count even for one field, because WITHVALUES needs one.
        command = ["HRANDFIELD", call.redis_key, call.args.get("count", 1)]
        if call.args["withvalues"]:
            command.append("WITHVALUES")
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        flat = flat_pairs(replies[0])
        withvalues = call.args["withvalues"]
        names = flat[0::2] if withvalues else flat
        values = flat[1::2] if withvalues else []
        texts, encoding = encode_values(names + values, call.encoding)
        names, values = texts[: len(names)], texts[len(names) :]
        if "count" not in call.args:
            if not names:
                raise key_not_found(call)
            single = {"key": call.key, "field": names[0], "encoding": encoding}
            if withvalues:
                single["value"] = values[0]
            return single
        many = {"key": call.key, "fields": names, "encoding": encoding}
        return {**many, "values": values} if withvalues else many


@area.register
class Scan(HashOperation):
    """``GET ?op=scan&cursor=0&pattern=a*&count=100``: HSCAN; go on until ``cursor`` is "0".

    ``count`` is a hint: Redis returns a small hash whole. A field may come back on more
    than one page.
    """

    name = "scan"
    serializer_class = ScanArguments

    def commands(self, call: Call):
        args = call.args
        return [("HSCAN", call.redis_key, args["cursor"], "MATCH", args["pattern"], "COUNT", args["count"])]

    def result(self, call: Call, replies: list):
        cursor, page = replies[0]
        flat = flat_pairs(page)
        fields, encoding = encode_fields(flat[0::2], flat[1::2], call.encoding)
        return {"key": call.key, "cursor": cursor.decode(), "fields": fields, "encoding": encoding}
