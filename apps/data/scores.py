"""Sorted-set scores in JSON.

Redis scores are doubles and may be infinite, but JSON has no infinity. So scores travel
as JSON numbers, with the strings "inf" and "-inf" for the infinities ("+inf" is accepted
on input too). NaN is never a valid score.
"""

import math
import re

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import from_query

INFINITY_TEXTS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf}
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
# Integral scores up to this magnitude come back as JSON integers, because every such
# integer is exactly representable in a double, so nothing is rounded.
_EXACT_INTEGER_LIMIT = 2**53


def parse_score_text(text: str) -> float | None:
    """Read "inf", "+inf", "-inf" or a decimal number; None for anything else or an overflow."""
    if text in INFINITY_TEXTS:
        return INFINITY_TEXTS[text]
    if not _NUMBER_TEXT.match(text):
        return None
    score = float(text)
    return score if math.isfinite(score) else None


def score_argument(score: float) -> str:
    """Format a score as Redis reads it: "+inf", "-inf" or the shortest exact decimal."""
    if math.isinf(score):
        return "+inf" if score > 0 else "-inf"
    return repr(score)


def score_to_json(raw: bytes | float | int) -> int | float | str:
    """Shape a score from a Redis reply for JSON.

    RESP2 replies and Lua scripts carry scores as text, RESP3 replies as doubles; both are
    accepted. Integral scores become integers, the infinities "inf" and "-inf".
    """
    score = float(raw)
    if math.isinf(score):
        return "inf" if score > 0 else "-inf"
    if score.is_integer() and abs(score) <= _EXACT_INTEGER_LIMIT:
        return int(score)
    return score


class ScoreField(serializers.Field):
    """A score: a JSON number, or one of "inf", "+inf", "-inf".

    Parsed to a float. NaN, booleans, other strings and numbers beyond the double range are
    invalid. In a query string the decimal text forms are read as numbers too.
    """

    default_error_messages = {
        "invalid": _('Must be a number or one of "inf", "+inf", "-inf".'),
        "out_of_range": _('Must fit in a double; use "inf" or "-inf" for infinity.'),
    }

    def to_internal_value(self, data) -> float:
        if isinstance(data, str):
            if data in INFINITY_TEXTS or from_query(self):
                score = parse_score_text(data)
                if score is None:
                    self.fail("invalid")
                return score
            self.fail("invalid")
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            score = float(data)
        except OverflowError:
            self.fail("out_of_range")
        if math.isnan(score):
            self.fail("invalid")
        if math.isinf(score):
            # The JSON parser turns a number such as 1e400 into infinity.
            self.fail("out_of_range")
        return score

    def to_representation(self, value):
        return score_to_json(value)


class ScoreBoundField(ScoreField):
    """One end of a score range: a number, "inf", "+inf", "-inf", or "(" and a number for an exclusive bound.

    Parsed to the Redis argument ("1.5", "(1.5", "-inf", "+inf"). Takes what ``ScoreField``
    takes, plus the exclusive form: "(" followed by a number or an infinity, such as "(-inf".
    """

    default_error_messages = {
        "invalid": _('Must be a number, "inf", "+inf", "-inf", or "(" and a number for an exclusive bound.'),
    }

    def to_internal_value(self, data) -> str:
        if isinstance(data, str) and data.startswith("("):
            score = parse_score_text(data[1:])
            if score is None:
                self.fail("invalid")
            return "(" + score_argument(score)
        return score_argument(super().to_internal_value(data))

    def to_representation(self, value):
        return value
