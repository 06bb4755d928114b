"""Shared parts of the rank operations: the area, member fields, reply shaping and errors."""

from typing import Any

from django.utils.translation import gettext_lazy as _

from apps.api.errors import ResourceNotFound
from apps.tenancy.permissions import Permission

from ...operations import Area, Call, ListKeys
from ...scores import score_to_json
from ...values import ValueField, encode_values

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("rank", redis_type="zset")
area.add(ListKeys("zset"))

# ZADD INCR and ZINCRBY of +inf onto -inf, or the reverse:
SCORE_ERRORS = {
    "resulting score is not a number": (
        "not_a_number",
        _("The increment would make the score NaN, as when adding -inf to +inf."),
    ),
}


class LexBoundField(ValueField):
    """One end of a lexicographic range, returned as the Redis argument.

    "-" and "+" are the lowest and highest possible members. Any other bound is "[" for an
    inclusive or "(" for an exclusive bound, followed by a member in the request's encoding.
    """

    default_error_messages = {
        "invalid_bound": _('Must be "-", "+", or "[" or "(" followed by a member.'),
    }

    def __init__(self, **kwargs):
        kwargs["allow_blank"] = False
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> bytes:
        if data in ("-", "+"):
            return data.encode()
        if not isinstance(data, str) or data[:1] not in ("[", "("):
            self.fail("invalid_bound")
        return data[:1].encode() + super().to_internal_value(data[1:])


def score_pairs(reply: list) -> list[tuple[bytes, Any]]:
    """Split a reply of members with scores into (member, score) pairs.

    RESP2 replies (the data role's pin), Lua scripts and ZSCAN list them flat
    ([member, score, member, score]); RESP3 would nest them ([[member, score], ...]).
    """
    if not reply:
        return []
    if isinstance(reply[0], list):
        return [(member, score) for member, score in reply]
    return list(zip(reply[::2], reply[1::2], strict=True))


def members_with_scores(pairs: list[tuple[bytes, Any]], encoding: str) -> dict:
    """Return ``{"members", "scores", "encoding"}`` with the two lists in the same order."""
    members, used = encode_values([member for member, _score in pairs], encoding)
    return {"members": members, "scores": [score_to_json(score) for _member, score in pairs], "encoding": used}


def rank_empty(call: Call) -> ResourceNotFound:
    return ResourceNotFound(
        _("Sorted set '%(key)s' is empty or does not exist.") % {"key": call.key}, code="rank_empty"
    )


def member_not_found(call: Call) -> ResourceNotFound:
    return ResourceNotFound(
        _("The member is not in sorted set '%(key)s', or the set does not exist.") % {"key": call.key},
        code="member_not_found",
    )
