"""Queue operations at the ends of a list: push, pop, blocking pop, move, blocking move.

By default values are pushed at the right end and popped from the left end, so a list
used with the defaults is a first-in, first-out queue.
"""

from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictCharField, StrictSerializer

from ...operations import BlockTimeoutField, Call, DataOperation
from ...values import ValueField, check_item_count, encode_value, encode_values
from .common import WRITE, ReplyCountField, area, queue_empty, side_command, side_field


class PushArguments(StrictSerializer):
    values = serializers.ListField(child=ValueField(), min_length=1)
    side = side_field("right")
    xx = StrictBooleanField(required=False, default=False, help_text="push only if the list exists (LPUSHX/RPUSHX)")

    def validate_values(self, values: list[bytes]) -> list[bytes]:
        check_item_count(values, "values")
        return values


class PopArguments(StrictSerializer):
    side = side_field("left")
    count = ReplyCountField(required=False, help_text="pop up to this many values and return a list")


class BlockingPopArguments(StrictSerializer):
    side = side_field("left")
    timeout_ms = BlockTimeoutField()
    keys = serializers.ListField(
        child=StrictCharField(trim_whitespace=False),
        required=False,
        default=list,
        help_text="more lists of the namespace to wait on, after the URL key",
    )

    def validate_keys(self, names: list[str]) -> list[str]:
        check_item_count(names, "keys")
        return names


class MoveArguments(StrictSerializer):
    destination = StrictCharField(trim_whitespace=False, help_text="key name of the list that receives the value")
    from_side = side_field("left", help_text="end of the source list to take the value from")
    to_side = side_field("right", help_text="end of the destination list to push the value at")


class BlockingMoveArguments(MoveArguments):
    timeout_ms = BlockTimeoutField()


@area.register
class Push(DataOperation):
    """``POST /queue/{key}``: RPUSH, LPUSH with ``"side": "left"``, RPUSHX/LPUSHX with ``xx``.

    Values are pushed one after another, so LPUSH of ``["a", "b"]`` leaves ``b`` first, as
    in Redis. Returns the new length. With ``xx`` and no list, nothing is pushed and the
    length is 0.
    """

    name, method, permission, default = "push", "POST", WRITE, True
    redis_type = "list"
    serializer_class = PushArguments

    def commands(self, call: Call):
        command = side_command(call.args["side"], "PUSH") + ("X" if call.args["xx"] else "")
        return [(command, call.redis_key, *call.args["values"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "length": replies[0]}


@area.register
class Pop(DataOperation):
    """``POST ?op=pop``: LPOP, or RPOP with ``"side": "right"``.

    Without ``count``, returns ``{"key", "value", "encoding"}``, and 404 ``queue_empty`` for
    an empty or missing list. With ``count``, returns ``{"key", "values", "encoding"}`` with
    up to ``count`` values, and an empty list for a missing list.
    """

    name, method, permission = "pop", "POST", WRITE
    redis_type = "list"
    serializer_class = PopArguments

    def commands(self, call: Call):
        command = [side_command(call.args["side"], "POP"), call.redis_key]
        if "count" in call.args:
            command.append(call.args["count"])
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        reply = replies[0]
        if "count" not in call.args:
            if reply is None:
                raise queue_empty(call)
            return {"key": call.key, **encode_value(reply, call.encoding)}
        # With a count, Redis returns nil for a missing list.
        values, encoding = encode_values(reply or [], call.encoding)
        return {"key": call.key, "values": values, "encoding": encoding}


@area.register
class BlockingPop(DataOperation):
    """``POST ?op=bpop``: BLPOP, or BRPOP with ``"side": "right"``, on the URL key and ``keys``.

    Waits up to ``timeout_ms`` until one of the lists has a value and pops it from the first
    non-empty list in the order given. Returns ``{"key", "source", "value", "encoding"}``,
    where ``source`` is the key name of the list the value came from.

    A timeout returns 200 with ``source`` and ``value`` null, not an error, because an idle
    period is the expected outcome of long polling.
    """

    name, method, permission = "bpop", "POST", WRITE
    blocking = True
    redis_type = "list"
    serializer_class = BlockingPopArguments

    def keys(self, call: Call) -> list[str]:
        return [call.redis_key, *(call.other_key(name) for name in call.args["keys"])]

    def commands(self, call: Call):
        command = side_command(call.args["side"], "POP")
        return [("B" + command, *self.keys(call), call.args["timeout_ms"] / 1000)]

    def result(self, call: Call, replies: list):
        reply = replies[0]
        if reply is None:
            return {"key": call.key, "source": None, "value": None, "encoding": call.encoding}
        redis_key, raw = reply
        names = [call.key, *call.args["keys"]]
        source = next(name for name, key in zip(names, self.keys(call), strict=True) if key.encode() == redis_key)
        return {"key": call.key, "source": source, **encode_value(raw, call.encoding)}


@area.register
class Move(DataOperation):
    """``POST ?op=move``: LMOVE from the URL key to ``destination``, a list of the same namespace.

    Takes the value at ``from_side`` (default left) and pushes it at ``to_side`` (default
    right), the ends that ``pop`` and ``push`` use by default. The destination may be the
    key itself, which rotates the list. Returns ``{"key", "destination", "value",
    "encoding"}``, and 404 ``queue_empty`` when the source list is empty or missing.
    """

    name, method, permission = "move", "POST", WRITE
    redis_type = "list"
    serializer_class = MoveArguments
    command_name = "LMOVE"

    def keys(self, call: Call) -> list[str]:
        return [call.redis_key, call.other_key(call.args["destination"])]

    def commands(self, call: Call):
        sides = (call.args["from_side"].upper(), call.args["to_side"].upper())
        return [(self.command_name, *self.keys(call), *sides, *self.timeout(call))]

    def timeout(self, call: Call) -> tuple:
        """Return the trailing timeout argument of the blocking form, which ``move`` does not have."""
        return ()

    def result(self, call: Call, replies: list):
        raw = replies[0]
        if raw is None:
            raise queue_empty(call)
        return {"key": call.key, "destination": call.args["destination"], **encode_value(raw, call.encoding)}


@area.register
class BlockingMove(Move):
    """``POST ?op=bmove``: BLMOVE, the blocking form of ``move``, waiting up to ``timeout_ms``.

    A timeout returns 200 with ``value`` null, as ``bpop`` does.
    """

    name = "bmove"
    blocking = True
    serializer_class = BlockingMoveArguments
    command_name = "BLMOVE"

    def timeout(self, call: Call) -> tuple:
        return (call.args["timeout_ms"] / 1000,)

    def result(self, call: Call, replies: list):
        if replies[0] is None:
            return {"key": call.key, "destination": call.args["destination"], "value": None, "encoding": call.encoding}
        return super().result(call, replies)
