"""Rank operations that take members without naming them: popmin, popmax, randmember, scan."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer

from ...operations import Call, DataOperation
from ...scores import score_to_json
from ...values import ValueField, encode_value, encode_values
from ..queue.common import ReplyCountField
from .common import READ, WRITE, area, members_with_scores, rank_empty, score_pairs


class PopArguments(StrictSerializer):
    count = ReplyCountField(required=False, help_text="pop up to this many members and return lists")


class RandomArguments(StrictSerializer):
    count = StrictIntegerField(
        required=False, help_text="n > 0: up to n distinct members; n < 0: |n| members, repeats allowed"
    )
    withscores = StrictBooleanField(required=False, default=False, help_text="needs count")

    def validate_count(self, count: int) -> int:
        # A negative count returns |count| members however small the set is. Redis would
        # build a reply of any size, so the count is bounded here.
        if abs(count) > settings.REDGX_MAX_ITEMS_PER_REQUEST:
            raise serializers.ValidationError(
                _("Must be between -%(limit)d and %(limit)d, the item limit of a request.")
                % {"limit": settings.REDGX_MAX_ITEMS_PER_REQUEST}
            )
        return count

    def validate(self, attrs: dict) -> dict:
        if attrs["withscores"] and "count" not in attrs:
            raise serializers.ValidationError({"withscores": [_("withscores needs count.")]})
        return attrs


class ScanArguments(StrictSerializer):
    cursor = serializers.RegexField(r"^\d{1,20}$", required=False, default="0")
    pattern = ValueField(required=False, help_text="glob-style pattern of members, in the request's encoding")
    count = StrictIntegerField(required=False, default=100, min_value=1, max_value=1000, help_text="a hint")


class _Pop(DataOperation):
    """Base of ``popmin`` and ``popmax``.

    Without ``count``, returns ``{"key", "member", "score", "encoding"}``, and 404
    ``rank_empty`` for an empty or missing set. With ``count``, returns ``{"key",
    "members", "scores", "encoding"}`` with up to ``count`` members, empty lists for a
    missing set.
    """

    method, permission = "POST", WRITE
    redis_type = "zset"
    serializer_class = PopArguments
    command_name: str

    def commands(self, call: Call):
        command = [self.command_name, call.redis_key]
        if "count" in call.args:
            command.append(call.args["count"])
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        pairs = score_pairs(replies[0])
        if "count" in call.args:
            return {"key": call.key, **members_with_scores(pairs, call.encoding)}
        if not pairs:
            raise rank_empty(call)
        member, score = pairs[0]
        value = encode_value(member, call.encoding)
        return {"key": call.key, "member": value["value"], "score": score_to_json(score), "encoding": value["encoding"]}


@area.register
class PopMin(_Pop):
    """``POST ?op=popmin``: ZPOPMIN, lowest scores first; replies as ``_Pop`` describes."""

    name = "popmin"
    command_name = "ZPOPMIN"


@area.register
class PopMax(_Pop):
    """``POST ?op=popmax``: ZPOPMAX, highest scores first; replies as ``_Pop`` describes."""

    name = "popmax"
    command_name = "ZPOPMAX"


@area.register
class RandomMember(DataOperation):
    """``GET ?op=randmember``: ZRANDMEMBER with ``count`` and ``withscores``.

    Without ``count``, returns ``{"key", "member", "encoding"}``, and 404 ``rank_empty``
    for a missing set. With ``count``, returns ``{"key", "members", "encoding"}`` (plus
    ``"scores"`` with ``withscores``): a positive count gives distinct members, a negative
    count allows repeats. A missing set gives empty lists.
    """

    name, method, permission = "randmember", "GET", READ
    redis_type = "zset"
    serializer_class = RandomArguments

    def commands(self, call: Call):
        command = ["ZRANDMEMBER", call.redis_key]
        if "count" in call.args:
            command.append(call.args["count"])
        if call.args["withscores"]:
            command.append("WITHSCORES")
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        reply = replies[0]
        if "count" not in call.args:
            if reply is None:
                raise rank_empty(call)
            value = encode_value(reply, call.encoding)
            return {"key": call.key, "member": value["value"], "encoding": value["encoding"]}
        if call.args["withscores"]:
            return {"key": call.key, **members_with_scores(score_pairs(reply), call.encoding)}
        members, encoding = encode_values(reply, call.encoding)
        return {"key": call.key, "members": members, "encoding": encoding}


@area.register
class Scan(DataOperation):
    """``GET ?op=scan&cursor=0&pattern=...&count=100``: ZSCAN of members with their scores.

    Returns ``{"key", "cursor", "members", "scores", "encoding"}``. Continue with the
    returned cursor until it is "0". As with Redis's SCAN family, a page may be empty before
    the end, and a member may appear on more than one page.
    """

    name, method, permission = "scan", "GET", READ
    redis_type = "zset"
    serializer_class = ScanArguments

    def commands(self, call: Call):
        command = ["ZSCAN", call.redis_key, call.args["cursor"]]
        if "pattern" in call.args:
            command += ["MATCH", call.args["pattern"]]
        command += ["COUNT", call.args["count"]]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        cursor, flat = replies[0]
        return {"key": call.key, "cursor": cursor.decode(), **members_with_scores(score_pairs(flat), call.encoding)}
