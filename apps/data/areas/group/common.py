"""The group area, its argument serializers, and the base class of its operations."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import ResourceNotFound
from apps.api.fields import StrictCharField, StrictIntegerField, StrictSerializer
from apps.tenancy.permissions import Permission

from ...operations import Area, Call, DataOperation, ListKeys
from ...values import ValueField, ValueListField, check_item_count, check_reply_count

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("group", redis_type="set")
area.add(ListKeys("set"))


class KeyNamesField(serializers.ListField):
    """Names of other keys in the namespace, at most REDGX_MAX_ITEMS_PER_REQUEST."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", StrictCharField(trim_whitespace=False))
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, list):
            check_item_count(data, self.field_name)
        return super().to_internal_value(data)


class AddArguments(StrictSerializer):
    members = ValueListField()


class MemberListArguments(StrictSerializer):
    member = ValueListField()


class MemberArguments(StrictSerializer):
    member = ValueField()


class RandomArguments(StrictSerializer):
    count = StrictIntegerField(required=False, help_text="negative: members may repeat")

    def validate_count(self, value: int) -> int:
        return check_reply_count(value)


class PopArguments(StrictSerializer):
    count = StrictIntegerField(required=False, min_value=0)

    def validate_count(self, value: int) -> int:
        return check_reply_count(value)


class MoveArguments(StrictSerializer):
    destination = StrictCharField(trim_whitespace=False, help_text="key name in the same namespace")
    member = ValueField()


class OtherKeysArguments(StrictSerializer):
    key = KeyNamesField(required=False, default=list, help_text="keys after the URL key")


class StoreArguments(StrictSerializer):
    key = KeyNamesField(min_length=1, help_text="source keys; the URL key receives the result")


class InterCardArguments(OtherKeysArguments):
    limit = StrictIntegerField(required=False, default=0, min_value=0, help_text="0: no limit")


class SetOperation(DataOperation):
    """Base of the group operations: a read of one set. Writes set their own method and permission."""

    method, permission = "GET", READ
    redis_type = "set"


def key_not_found(call: Call) -> ResourceNotFound:
    return ResourceNotFound(_("Key '%(key)s' not found.") % {"key": call.key}, code="key_not_found")
