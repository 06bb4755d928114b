"""Queue operations on elements by index or value: range, index, len, trim, rem, set, insert, pos.

Indexes count from 0 at the left end; negative indexes count from the right end, -1
being the last element, as in Redis.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import ResourceNotFound
from apps.api.fields import INT64_MAX, StrictIntegerField, StrictSerializer

from ...operations import Call, DataOperation
from ...values import ValueField, encode_value, encode_values
from .common import READ, WRITE, area


class RangeArguments(StrictSerializer):
    start = StrictIntegerField(required=False, default=0)
    stop = StrictIntegerField(required=False, default=-1, help_text="inclusive")


class IndexArguments(StrictSerializer):
    index = StrictIntegerField()


class TrimArguments(StrictSerializer):
    start = StrictIntegerField()
    stop = StrictIntegerField(help_text="inclusive")


class RemoveArguments(StrictSerializer):
    value = ValueField()
    count = StrictIntegerField(
        required=False,
        default=0,
        help_text="0 removes every match; n > 0 the first n from the left; n < 0 the first |n| from the right",
    )


class SetArguments(StrictSerializer):
    index = StrictIntegerField()
    value = ValueField()


class InsertArguments(StrictSerializer):
    where = serializers.ChoiceField(choices=["before", "after"])
    pivot = ValueField(help_text="the value to insert next to; the first match from the left is used")
    value = ValueField()


class PositionArguments(StrictSerializer):
    value = ValueField()
    # Redis rejects a rank of 0 and of the minimum 64-bit integer.
    rank = StrictIntegerField(
        required=False, min_value=-INT64_MAX, help_text="1 for the first match, 2 for the second, -1 for the last"
    )
    count = StrictIntegerField(
        required=False, min_value=0, help_text="return up to this many positions as a list; 0 returns all"
    )
    maxlen = StrictIntegerField(required=False, min_value=0, help_text="compare at most this many elements; 0: all")

    def validate_rank(self, rank: int) -> int:
        if rank == 0:
            raise serializers.ValidationError(_("Must not be 0: use 1 for the first match or -1 for the last."))
        return rank

    def validate_count(self, count: int) -> int:
        if count > settings.REDGX_MAX_ITEMS_PER_REQUEST:
            raise serializers.ValidationError(
                _("Must be at most %(limit)d, the item limit of a request.")
                % {"limit": settings.REDGX_MAX_ITEMS_PER_REQUEST}
            )
        return count


@area.register
class Range(DataOperation):
    """``GET /queue/{key}?start=0&stop=-1``: LRANGE, both ends inclusive. A missing list returns ``[]``."""

    # NOTE: the reply is not limited to REDGX_MAX_ITEMS_PER_REQUEST values, so a request
    # for 0..-1 of a long list returns all of it.
    name, method, permission, default = "range", "GET", READ, True
    redis_type = "list"
    serializer_class = RangeArguments

    def commands(self, call: Call):
        return [("LRANGE", call.redis_key, call.args["start"], call.args["stop"])]

    def result(self, call: Call, replies: list):
        values, encoding = encode_values(replies[0], call.encoding)
        return {"key": call.key, "values": values, "encoding": encoding}


@area.register
class Index(DataOperation):
    """``GET ?op=index&index=0``: LINDEX. 404 ``index_out_of_range`` when no element has that index,
    which includes every index of a missing list."""

    name, method, permission = "index", "GET", READ
    redis_type = "list"
    serializer_class = IndexArguments

    def commands(self, call: Call):
        return [("LINDEX", call.redis_key, call.args["index"])]

    def result(self, call: Call, replies: list):
        raw = replies[0]
        if raw is None:
            raise ResourceNotFound(
                _("List '%(key)s' has no element at index %(index)d.") % {"key": call.key, "index": call.args["index"]},
                code="index_out_of_range",
            )
        return {"key": call.key, "index": call.args["index"], **encode_value(raw, call.encoding)}


@area.register
class Length(DataOperation):
    """``GET ?op=len``: LLEN. A missing list has length 0."""

    name, method, permission = "len", "GET", READ
    redis_type = "list"

    def commands(self, call: Call):
        return [("LLEN", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "length": replies[0]}


@area.register
class Trim(DataOperation):
    """``POST ?op=trim``: LTRIM to the elements from ``start`` to ``stop`` inclusive, then LLEN.

    Returns the length left; a range that selects nothing deletes the list.
    """

    name, method, permission = "trim", "POST", WRITE
    redis_type = "list"
    serializer_class = TrimArguments

    def commands(self, call: Call):
        return [("LTRIM", call.redis_key, call.args["start"], call.args["stop"]), ("LLEN", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "length": replies[1]}


@area.register
class Remove(DataOperation):
    """``POST ?op=rem``: LREM of elements equal to ``value``; returns how many were removed.

    ``count`` 0 removes every match, a positive count the first matches from the left, a
    negative count the first matches from the right.
    """

    name, method, permission = "rem", "POST", WRITE
    redis_type = "list"
    serializer_class = RemoveArguments

    def commands(self, call: Call):
        return [("LREM", call.redis_key, call.args["count"], call.args["value"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "removed": replies[0]}


@area.register
class Set(DataOperation):
    """``PUT ?op=set``: LSET of the element at ``index``.

    An index outside the list returns 409 ``index_out_of_range``. A missing list returns
    404 ``key_not_found``.
    """

    name, method, permission = "set", "PUT", WRITE
    redis_type = "list"
    serializer_class = SetArguments
    error_codes = {
        "index out of range": ("index_out_of_range", _("The index is outside the list.")),
    }
    not_found_codes = {
        "no such key": ("key_not_found", _("The list does not exist.")),
    }

    def commands(self, call: Call):
        return [("LSET", call.redis_key, call.args["index"], call.args["value"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "index": call.args["index"], "written": True}


@area.register
class Insert(DataOperation):
    """``POST ?op=insert``: LINSERT of ``value`` before or after the first element equal to ``pivot``.

    Returns the new length. 404 ``pivot_not_found`` when no element equals the pivot,
    which includes a missing list.
    """

    name, method, permission = "insert", "POST", WRITE
    redis_type = "list"
    serializer_class = InsertArguments

    def commands(self, call: Call):
        args = call.args
        return [("LINSERT", call.redis_key, args["where"].upper(), args["pivot"], args["value"])]

    def result(self, call: Call, replies: list):
        length = replies[0]
        # Redis returns -1 when the pivot is missing and 0 when the list is.
        if length <= 0:
            raise ResourceNotFound(
                _("No element of list '%(key)s' equals the pivot.") % {"key": call.key}, code="pivot_not_found"
            )
        return {"key": call.key, "length": length}


@area.register
class Position(DataOperation):
    """``GET ?op=pos&value=...``: LPOS with ``rank``, ``count`` and ``maxlen``.

    Without ``count``, returns ``{"key", "position"}``, and 404 ``element_not_found`` when
    no element matches. With ``count``, returns ``{"key", "positions"}``, a list that is
    empty when nothing matches. Positions count from 0 at the left end whatever the rank.
    """

    name, method, permission = "pos", "GET", READ
    redis_type = "list"
    serializer_class = PositionArguments

    def commands(self, call: Call):
        command = ["LPOS", call.redis_key, call.args["value"]]
        for option in ("rank", "count", "maxlen"):
            if option in call.args:
                command += [option.upper(), call.args[option]]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        reply = replies[0]
        if "count" in call.args:
            return {"key": call.key, "positions": reply}
        if reply is None:
            raise ResourceNotFound(
                _("No element of list '%(key)s' equals the value.") % {"key": call.key}, code="element_not_found"
            )
        return {"key": call.key, "position": reply}
