"""Rank operations on ranges of members: range, count, lexcount, remrange.

``by`` picks how a range is chosen:

- ``rank``: ``start`` and ``stop``, from 0, negative from the end, both inclusive.
- ``score``: ``min`` and ``max``, each a number, "-inf", "+inf", or "(" and a number for
  an exclusive bound.
- ``lex``: ``min`` and ``max``, each "-", "+", or "[" (inclusive) or "(" (exclusive)
  followed by a member. As in Redis, this order only makes sense when every member has
  the same score.

In a query string, write "+" as %2B, because a bare "+" reads as a space.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer

from ...operations import Call, DataOperation
from ...scores import ScoreBoundField
from ...values import encode_values
from ..queue.common import ReplyCountField
from .common import READ, WRITE, LexBoundField, area, members_with_scores, score_pairs

BOUND_FIELDS = {"score": ScoreBoundField, "lex": LexBoundField}
# The whole set, for the ends a read leaves out.
WIDEST_BOUNDS = {"score": ("-inf", "+inf"), "lex": (b"-", b"+")}


class RangeBoundField(serializers.Field):
    """One end of a range. With by=score: a number, "-inf", "+inf", or "(" and a number for an
    exclusive bound. With by=lex: "-", "+", or "[" (inclusive) or "(" (exclusive) and a member.

    Kept as sent until ``validate`` has read ``by`` and parses it with the matching field.
    """

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class RangeArguments(StrictSerializer):
    """The arguments that select a range. Subclasses set ``bounds_required`` for destructive operations."""

    by = serializers.ChoiceField(choices=["rank", "score", "lex"], required=False, default="rank")
    start = StrictIntegerField(required=False, help_text="with by=rank")
    stop = StrictIntegerField(required=False, help_text="with by=rank; inclusive")
    min = RangeBoundField(required=False, help_text="with by=score or by=lex")
    max = RangeBoundField(required=False, help_text="with by=score or by=lex")

    bounds_required = False

    def validate(self, attrs: dict) -> dict:
        if attrs["by"] == "rank":
            self._reject(attrs, ("min", "max"), _("Use start and stop with by=rank."))
            for name, widest in (("start", 0), ("stop", -1)):
                attrs[name] = self._bound(attrs, name, widest)
        else:
            self._reject(attrs, ("start", "stop"), _("Use min and max with by=score or by=lex."))
            for name, widest in zip(("min", "max"), WIDEST_BOUNDS[attrs["by"]], strict=True):
                if name in attrs:
                    attrs[name] = self._parse_bound(BOUND_FIELDS[attrs["by"]], name, attrs[name])
                attrs[name] = self._bound(attrs, name, widest)
        return attrs

    def _reject(self, attrs: dict, names: tuple[str, ...], message) -> None:
        for name in names:
            if name in attrs:
                raise serializers.ValidationError({name: [message]})

    def _bound(self, attrs: dict, name: str, widest):
        if name in attrs:
            return attrs[name]
        if self.bounds_required:
            raise serializers.ValidationError({name: [_("This field is required with by=%(by)s.") % attrs]})
        return widest

    def _parse_bound(self, field_class: type[serializers.Field], name: str, value):
        field = field_class()
        field.bind(field_name=name, parent=self)
        try:
            return field.run_validation(value)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({name: exc.detail}) from exc


class ReadRangeArguments(RangeArguments):
    rev = StrictBooleanField(required=False, default=False, help_text="highest first; min and max keep their meaning")
    offset = StrictIntegerField(required=False, min_value=0, help_text="with by=score or by=lex: members to skip")
    limit = ReplyCountField(required=False, help_text="with by=score or by=lex: members to return at most")
    withscores = StrictBooleanField(required=False, default=False, help_text="not with by=lex")

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if attrs["by"] == "rank":
            self._reject(attrs, ("offset", "limit"), _("offset and limit need by=score or by=lex."))
        if attrs["by"] == "lex" and attrs["withscores"]:
            raise serializers.ValidationError({"withscores": [_("Redis returns no scores with by=lex.")]})
        return attrs


class RemoveRangeArguments(RangeArguments):
    bounds_required = True


class ScoreCountArguments(StrictSerializer):
    min = ScoreBoundField(required=False, default="-inf")
    max = ScoreBoundField(required=False, default="+inf")


class LexCountArguments(StrictSerializer):
    min = LexBoundField(required=False, default=b"-")
    max = LexBoundField(required=False, default=b"+")


@area.register
class Range(DataOperation):
    """``GET /rank/{key}``: ZRANGE by rank (default), or with BYSCORE, BYLEX, REV, LIMIT, WITHSCORES.

    ``by=score`` and ``by=lex`` take ``min`` and ``max``. With ``rev`` the members come
    highest first, and ``min`` is still the lower bound because the gateway swaps the
    bounds for Redis. ``offset`` and ``limit`` page through score and lex ranges. Returns
    ``{"key", "members", "encoding"}``, plus ``"scores"`` in the same order with
    ``withscores``. A missing set returns empty lists.
    """

    # NOTE: without ``limit`` the reply is not limited to REDGX_MAX_ITEMS_PER_REQUEST
    # members, so a rank range of 0..-1 returns the whole set.
    name, method, permission, default = "range", "GET", READ, True
    redis_type = "zset"
    serializer_class = ReadRangeArguments

    def commands(self, call: Call):
        args = call.args
        command = ["ZRANGE", call.redis_key]
        if args["by"] == "rank":
            command += [args["start"], args["stop"]]
        else:
            bounds = [args["max"], args["min"]] if args["rev"] else [args["min"], args["max"]]
            command += [*bounds, "BY" + args["by"].upper()]
        if args["rev"]:
            command.append("REV")
        if "offset" in args or "limit" in args:
            # Redis reads a negative count as "all members after the offset".
            command += ["LIMIT", args.get("offset", 0), args.get("limit", -1)]
        if args["withscores"]:
            command.append("WITHSCORES")
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        if call.args["withscores"]:
            return {"key": call.key, **members_with_scores(score_pairs(replies[0]), call.encoding)}
        members, encoding = encode_values(replies[0], call.encoding)
        return {"key": call.key, "members": members, "encoding": encoding}


@area.register
class RemoveRange(DataOperation):
    """``POST ?op=remrange``: ZREMRANGEBYRANK, ZREMRANGEBYSCORE or ZREMRANGEBYLEX.

    Takes ``by`` as ``range`` does, but both ends are required. Returns how many members
    were removed.
    """

    name, method, permission = "remrange", "POST", WRITE
    redis_type = "zset"
    serializer_class = RemoveRangeArguments

    def commands(self, call: Call):
        args = call.args
        low, high = ("start", "stop") if args["by"] == "rank" else ("min", "max")
        return [("ZREMRANGEBY" + args["by"].upper(), call.redis_key, args[low], args[high])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "removed": replies[0]}


@area.register
class Count(DataOperation):
    """``GET ?op=count&min=...&max=...``: ZCOUNT of members with scores in the range.

    Both ends default to the infinities, so without them the count is the cardinality.
    A missing set has count 0.
    """

    name, method, permission = "count", "GET", READ
    redis_type = "zset"
    serializer_class = ScoreCountArguments

    def commands(self, call: Call):
        return [("ZCOUNT", call.redis_key, call.args["min"], call.args["max"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "count": replies[0]}


@area.register
class LexCount(DataOperation):
    """``GET ?op=lexcount&min=[a&max=(c``: ZLEXCOUNT; both ends default to "-" and "+"."""

    name, method, permission = "lexcount", "GET", READ
    redis_type = "zset"
    serializer_class = LexCountArguments

    def commands(self, call: Call):
        return [("ZLEXCOUNT", call.redis_key, call.args["min"], call.args["max"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "count": replies[0]}
