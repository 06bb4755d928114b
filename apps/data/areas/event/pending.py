"""Pending entries of consumer groups: acknowledge, inspect and claim them."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictIntegerField

from ...operations import Call
from .common import (
    READ,
    CountField,
    NameField,
    StreamIdField,
    StreamIdListField,
    area,
    default_count,
    shape_one_batch,
    text,
)
from .groups import ConsumerArguments, GroupArguments, GroupOperation

# XAUTOCLAIM scans this many pending entries when no count is given, as Redis does.
AUTOCLAIM_DEFAULT_COUNT = 100


class AckArguments(GroupArguments):
    ids = StreamIdListField()


class PendingArguments(GroupArguments):
    start = StreamIdField(required=False, default="-", specials="-+", exclusive=True)
    end = StreamIdField(required=False, default="+", specials="-+", exclusive=True)
    count = CountField(required=False, help_text="selects the detail form, with at most this many entries")
    idle_ms = StrictIntegerField(required=False, min_value=0, help_text="only entries idle at least this long")
    consumer = NameField(required=False)

    def validate(self, attrs: dict) -> dict:
        detail_options = [name for name in ("start", "end", "idle_ms", "consumer") if name in self.initial_data]
        if detail_options and "count" not in attrs:
            raise serializers.ValidationError(
                {"count": [_("Required with %(names)s.") % {"names": ", ".join(detail_options)}]}
            )
        return attrs


class ClaimArguments(ConsumerArguments):
    min_idle_ms = StrictIntegerField(min_value=0, help_text="claim only entries idle at least this long")
    ids = StreamIdListField()
    idle_ms = StrictIntegerField(required=False, min_value=0, help_text="set the idle time")
    time_ms = StrictIntegerField(required=False, min_value=0, help_text="set the last delivery, Unix milliseconds")
    retrycount = StrictIntegerField(required=False, min_value=0, help_text="set the delivery counter")
    force = StrictBooleanField(required=False, default=False, help_text="claim entries that are not pending")
    justid = StrictBooleanField(
        required=False, default=False, help_text="return IDs only, leaving the delivery counter as it is"
    )

    def validate(self, attrs: dict) -> dict:
        if "idle_ms" in attrs and "time_ms" in attrs:
            raise serializers.ValidationError({"time_ms": [_("Give only one of idle_ms and time_ms.")]})
        return attrs


class AutoClaimArguments(ConsumerArguments):
    min_idle_ms = StrictIntegerField(min_value=0, help_text="claim only entries idle at least this long")
    start = StreamIdField(required=False, default="0-0", specials="-", exclusive=True)
    count = CountField(required=False, help_text="pending entries to scan, 100 by default")
    justid = StrictBooleanField(
        required=False, default=False, help_text="return IDs only, leaving the delivery counter as it is"
    )


@area.register
class Acknowledge(GroupOperation):
    """``POST ?op=ack``: XACK; ``acknowledged`` counts the IDs that were pending.

    A missing stream or group acknowledges nothing (0), as in Redis.
    """

    name = "ack"
    serializer_class = AckArguments

    def commands(self, call: Call):
        return [("XACK", call.redis_key, call.args["group"], *call.args["ids"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "group": call.args["group"], "acknowledged": replies[0]}


@area.register
class Pending(GroupOperation):
    """``GET ?op=pending&group=``: XPENDING summary, or with ``count`` the detail form.

    The detail form takes ``start``/``end`` (``-``, ``+``, IDs, ``(`` for exclusive), ``idle_ms``
    and ``consumer``. A missing group or stream returns 404 ``group_not_found``.
    """

    name, method, permission = "pending", "GET", READ
    serializer_class = PendingArguments

    def commands(self, call: Call):
        args = call.args
        command = ["XPENDING", call.redis_key, args["group"]]
        if "count" in args:
            if "idle_ms" in args:
                command += ["IDLE", args["idle_ms"]]
            command += [args["start"], args["end"], args["count"]]
            if "consumer" in args:
                command.append(args["consumer"])
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        reply = replies[0]
        data = {"key": call.key, "group": call.args["group"]}
        if "count" in call.args:
            data["pending"] = [
                {"id": text(entry_id), "consumer": text(consumer), "idle_ms": idle_ms, "delivery_count": deliveries}
                for entry_id, consumer, idle_ms, deliveries in reply
            ]
            return data
        count, min_id, max_id, consumers = reply
        # Redis sends each consumer's count as a bulk string.
        data.update(
            count=count,
            min_id=text(min_id),
            max_id=text(max_id),
            consumers={text(name): int(pending) for name, pending in consumers or []},
        )
        return data


class _Claim(GroupOperation):
    def shape_claimed(self, call: Call, claimed: list) -> dict:
        """Return ``ids`` under JUSTID, else the claimed ``entries`` and their ``encoding``."""
        if call.args["justid"]:
            return {"ids": [text(entry_id) for entry_id in claimed]}
        # Redis 7.0 leaves out entries deleted meanwhile. Redis 6.2 sent nil for them, which this skips.
        entries, encoding = shape_one_batch([entry for entry in claimed if entry is not None], call.encoding)
        return {"entries": entries, "encoding": encoding}


@area.register
class Claim(_Claim):
    """``POST ?op=claim``: XCLAIM of ``ids`` idle at least ``min_idle_ms``, to ``consumer``.

    Options: IDLE (``idle_ms``), TIME (``time_ms``), RETRYCOUNT, FORCE and JUSTID. IDs that are not
    pending, not idle enough or deleted are left out of the reply. A missing group or stream returns
    404 ``group_not_found``.
    """

    name = "claim"
    serializer_class = ClaimArguments

    def commands(self, call: Call):
        args = call.args
        command = ["XCLAIM", call.redis_key, args["group"], args["consumer"], args["min_idle_ms"], *args["ids"]]
        if "idle_ms" in args:
            command += ["IDLE", args["idle_ms"]]
        if "time_ms" in args:
            command += ["TIME", args["time_ms"]]
        if "retrycount" in args:
            command += ["RETRYCOUNT", args["retrycount"]]
        if args["force"]:
            command.append("FORCE")
        if args["justid"]:
            command.append("JUSTID")
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        args = call.args
        return {
            "key": call.key,
            "group": args["group"],
            "consumer": args["consumer"],
            **self.shape_claimed(call, replies[0]),
        }


@area.register
class AutoClaim(_Claim):
    """``POST ?op=autoclaim``: XAUTOCLAIM from ``start`` (``0-0`` by default), with COUNT and JUSTID.

    ``next_start`` is the ``start`` of the next call, ``0-0`` once the scan is complete.
    ``deleted_ids`` lists pending entries that no longer exist in the stream. Redis removed them
    from the pending list. A missing group or stream returns 404 ``group_not_found``.
    """

    name = "autoclaim"
    serializer_class = AutoClaimArguments

    def commands(self, call: Call):
        args = call.args
        count = args.get("count", min(AUTOCLAIM_DEFAULT_COUNT, default_count()))
        command = ["XAUTOCLAIM", call.redis_key, args["group"], args["consumer"], args["min_idle_ms"], args["start"]]
        command += ["COUNT", count]
        if args["justid"]:
            command.append("JUSTID")
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        next_start, claimed, deleted_ids = replies[0]
        args = call.args
        return {
            "key": call.key,
            "group": args["group"],
            "consumer": args["consumer"],
            "next_start": text(next_start),
            **self.shape_claimed(call, claimed),
            "deleted_ids": [text(entry_id) for entry_id in deleted_ids],
        }
