"""Rank operations on named members: add, incr, rem, score, mscore, rank, card."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictSerializer

from ...operations import Call, DataOperation
from ...scores import ScoreField, score_argument, score_to_json
from ...values import EncodedKeysDictField, ValueField, ValueListField
from .common import READ, SCORE_ERRORS, WRITE, area, member_not_found


class AddArguments(StrictSerializer):
    members = EncodedKeysDictField(
        child=ScoreField(), help_text='member -> score; a score is a number, "inf" or "-inf"'
    )
    nx = StrictBooleanField(required=False, default=False, help_text="only add new members")
    xx = StrictBooleanField(required=False, default=False, help_text="only update existing members")
    gt = StrictBooleanField(required=False, default=False, help_text="update only to a greater score")
    lt = StrictBooleanField(required=False, default=False, help_text="update only to a lower score")
    ch = StrictBooleanField(required=False, default=False, help_text="count changed scores as well as added members")
    incr = StrictBooleanField(required=False, default=False, help_text="add the score to the member's score")

    def validate(self, attrs: dict) -> dict:
        if attrs["nx"] and attrs["xx"]:
            raise serializers.ValidationError({"xx": [_("nx and xx cannot both be true.")]})
        if attrs["gt"] and attrs["lt"]:
            raise serializers.ValidationError({"lt": [_("gt and lt cannot both be true.")]})
        if attrs["nx"] and (attrs["gt"] or attrs["lt"]):
            raise serializers.ValidationError({"nx": [_("nx cannot be combined with gt or lt.")]})
        if attrs["incr"] and len(attrs["members"]) != 1:
            raise serializers.ValidationError({"members": [_("With incr, give exactly one member.")]})
        return attrs


class IncrementArguments(StrictSerializer):
    member = ValueField()
    by = ScoreField(required=False, default=1.0)


class MemberArguments(StrictSerializer):
    member = ValueField()


class RankArguments(MemberArguments):
    rev = StrictBooleanField(required=False, default=False, help_text="rank from the highest score (ZREVRANK)")


class MembersQueryArguments(StrictSerializer):
    member = ValueListField(help_text="repeat the parameter: ?member=a&member=b")


class MembersBodyArguments(StrictSerializer):
    members = ValueListField()


@area.register
class Add(DataOperation):
    """``POST /rank/{key}``: ZADD with the options NX, XX, GT, LT, CH and INCR.

    Returns ``{"key", "added"}``, the number of new members, or with ``ch``
    ``{"key", "changed"}``, new members plus members whose score changed. GT and LT only
    stop updates, so they still add missing members, as in Redis. With ``incr`` (one
    member), returns ``{"key", "score"}``: the new score, or null when NX, XX, GT or LT
    stopped the update.
    """

    name, method, permission, default = "add", "POST", WRITE, True
    redis_type = "zset"
    serializer_class = AddArguments
    error_codes = SCORE_ERRORS

    def commands(self, call: Call):
        args = call.args
        command = ["ZADD", call.redis_key]
        command += [option.upper() for option in ("nx", "xx", "gt", "lt", "ch", "incr") if args[option]]
        for member, score in args["members"].items():
            command += [score_argument(score), member]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        reply = replies[0]
        if call.args["incr"]:
            return {"key": call.key, "score": None if reply is None else score_to_json(reply)}
        return {"key": call.key, "changed" if call.args["ch"] else "added": reply}


@area.register
class Increment(DataOperation):
    """``POST ?op=incr``: ZINCRBY of ``member`` by ``by`` (default 1); returns the new score.

    A missing member starts from 0. 409 ``not_a_number`` when the sum would be NaN.
    """

    name, method, permission = "incr", "POST", WRITE
    redis_type = "zset"
    serializer_class = IncrementArguments
    error_codes = SCORE_ERRORS

    def commands(self, call: Call):
        return [("ZINCRBY", call.redis_key, score_argument(call.args["by"]), call.args["member"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "score": score_to_json(replies[0])}


@area.register
class Remove(DataOperation):
    """``POST ?op=rem``: ZREM of ``members``; returns how many were in the set."""

    name, method, permission = "rem", "POST", WRITE
    redis_type = "zset"
    serializer_class = MembersBodyArguments

    def commands(self, call: Call):
        return [("ZREM", call.redis_key, *call.args["members"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "removed": replies[0]}


@area.register
class Score(DataOperation):
    """``GET ?op=score&member=...``: ZSCORE. 404 ``member_not_found`` for a missing member or set."""

    name, method, permission = "score", "GET", READ
    redis_type = "zset"
    serializer_class = MemberArguments

    def commands(self, call: Call):
        return [("ZSCORE", call.redis_key, call.args["member"])]

    def result(self, call: Call, replies: list):
        if replies[0] is None:
            raise member_not_found(call)
        return {"key": call.key, "score": score_to_json(replies[0])}


@area.register
class MultiScore(DataOperation):
    """``GET ?op=mscore&member=a&member=b``: ZMSCORE.

    Returns ``{"key", "scores"}`` in the order of the members asked for, null for each
    member that is missing; every score of a missing set is null.
    """

    name, method, permission = "mscore", "GET", READ
    redis_type = "zset"
    serializer_class = MembersQueryArguments

    def commands(self, call: Call):
        return [("ZMSCORE", call.redis_key, *call.args["member"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "scores": [None if raw is None else score_to_json(raw) for raw in replies[0]]}


@area.register
class Rank(DataOperation):
    """``GET ?op=rank&member=...``: ZRANK, or ZREVRANK with ``rev``; ranks count from 0.

    404 ``member_not_found`` for a missing member or set.
    """

    name, method, permission = "rank", "GET", READ
    redis_type = "zset"
    serializer_class = RankArguments

    def commands(self, call: Call):
        return [("ZREVRANK" if call.args["rev"] else "ZRANK", call.redis_key, call.args["member"])]

    def result(self, call: Call, replies: list):
        if replies[0] is None:
            raise member_not_found(call)
        return {"key": call.key, "rank": replies[0]}


@area.register
class Cardinality(DataOperation):
    """``GET ?op=card``: ZCARD, the number of members; 0 for a missing set."""

    name, method, permission = "card", "GET", READ
    redis_type = "zset"

    def commands(self, call: Call):
        return [("ZCARD", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "count": replies[0]}
