"""Shared parts of the queue operations: the area, list-end and count fields, the empty-queue error."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import ResourceNotFound
from apps.api.fields import StrictIntegerField
from apps.tenancy.permissions import Permission

from ...operations import Area, Call, ListKeys

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("queue", redis_type="list")
area.add(ListKeys("list"))

SIDES = ("left", "right")


def side_field(default: str, help_text: str = "left (head) or right (tail)") -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=SIDES, required=False, default=default, help_text=help_text)


def side_command(side: str, command: str) -> str:
    """Return the LEFT or RIGHT form of a list command: ``side_command("left", "POP")`` is LPOP."""
    return ("L" if side == "left" else "R") + command


class ReplyCountField(StrictIntegerField):
    """How many values a reply may hold, from 1 to REDGX_MAX_ITEMS_PER_REQUEST."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        value = super().to_internal_value(data)
        if value > settings.REDGX_MAX_ITEMS_PER_REQUEST:
            raise serializers.ValidationError(
                _("Must be at most %(limit)d, the item limit of a request.")
                % {"limit": settings.REDGX_MAX_ITEMS_PER_REQUEST}
            )
        return value


def queue_empty(call: Call) -> ResourceNotFound:
    return ResourceNotFound(_("Queue '%(key)s' is empty or does not exist.") % {"key": call.key}, code="queue_empty")
