"""Checkers of the serializer fields that the area modules declare (see ``fields`` for the rules)."""

from collections.abc import Callable

from django.conf import settings
from rest_framework import serializers

from apps.api.fields import StrictCharField

from ..areas.event.common import CountField, NameField, StreamIdField, StreamIdListField
from ..areas.group.common import KeyNamesField
from ..areas.queue.common import ReplyCountField
from ..areas.rank.ranges import RangeBoundField
from .fields import Checker, build_integer, build_list, build_passthrough, build_text


def item_limit() -> int:
    return settings.REDGX_MAX_ITEMS_PER_REQUEST


def build_own_rule(field: StrictCharField) -> Checker:
    """Build a checker that runs the field's own to_internal_value after the text checks.

    Only for StrictCharField subclasses whose to_internal_value reads no context and no
    state, so that calling it on the compiled serializer's field instance is safe.
    """
    text = build_text(field)
    to_internal_value = field.to_internal_value

    def check(value, encoding):
        value = text(value, encoding)
        # CharField returns a blank string without calling to_internal_value.
        return to_internal_value(value) if value else value

    return check


AREA_BUILDERS: dict[type, Callable[[serializers.Field], Checker | None]] = {
    KeyNamesField: lambda field: build_list(field, item_limit=True),
    StreamIdListField: lambda field: build_list(field, item_limit=True),
    ReplyCountField: lambda field: build_integer(field, limit=item_limit),
    CountField: lambda field: build_integer(field, limit=item_limit),
    RangeBoundField: build_passthrough,
    NameField: build_own_rule,
    StreamIdField: build_own_rule,
}
