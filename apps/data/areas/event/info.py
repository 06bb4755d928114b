"""Stream introspection: XINFO STREAM (with FULL), XINFO GROUPS and XINFO CONSUMERS.

Field names are Redis's with "-" turned into "_", so ``last-generated-id`` becomes
``last_generated_id``. Fields that newer servers add pass through the same way.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.fields import StrictBooleanField, StrictSerializer

from ...operations import Call, DataOperation
from .common import (
    GROUP_NOT_FOUND,
    READ,
    STREAM_NOT_FOUND,
    CountField,
    NameField,
    area,
    flat_map,
    plain,
    shape_entries,
    text,
)


class InfoArguments(StrictSerializer):
    full = StrictBooleanField(required=False, default=False, help_text="include entries, groups and consumers")
    count = CountField(required=False, help_text="with full: entries and pending entries per list, 10 by default")

    def validate(self, attrs: dict) -> dict:
        if "count" in attrs and not attrs["full"]:
            raise serializers.ValidationError({"count": [_("Redis accepts count only with full: true.")]})
        return attrs


class ConsumersArguments(StrictSerializer):
    group = NameField()


def shape_group_pending(raw: list) -> list[dict]:
    return [
        {"id": text(entry_id), "consumer": text(consumer), "delivery_time": delivered_at, "delivery_count": count}
        for entry_id, consumer, delivered_at, count in raw
    ]


def shape_consumer_pending(raw: list) -> list[dict]:
    return [
        {"id": text(entry_id), "delivery_time": delivered_at, "delivery_count": count}
        for entry_id, delivered_at, count in raw
    ]


def shape_full_consumer(raw: list) -> dict:
    fields = flat_map(raw)
    consumer = {name: plain(value) for name, value in fields.items() if name != "pending"}
    consumer["pending"] = shape_consumer_pending(fields["pending"])
    return consumer


def shape_full_group(raw: list) -> dict:
    fields = flat_map(raw)
    group = {name: plain(value) for name, value in fields.items() if name not in ("pending", "consumers")}
    group["pending"] = shape_group_pending(fields["pending"])
    group["consumers"] = [shape_full_consumer(consumer) for consumer in fields["consumers"]]
    return group


@area.register
class StreamInfo(DataOperation):
    """``GET ?op=info&full=&count=``: XINFO STREAM, or XINFO STREAM FULL COUNT with ``full``.

    The summary has ``first_entry`` and ``last_entry`` (null when empty) and the group count in
    ``groups``. With ``full``, ``entries`` lists the first ``count`` entries and ``groups`` the
    groups with their pending entries and consumers. ``delivery_time`` and ``seen_time`` are Unix
    milliseconds. A missing stream returns 404 ``key_not_found``.
    """

    name, method, permission = "info", "GET", READ
    redis_type = "stream"
    serializer_class = InfoArguments
    not_found_codes = STREAM_NOT_FOUND

    def commands(self, call: Call):
        command = ["XINFO", "STREAM", call.redis_key]
        if call.args["full"]:
            command.append("FULL")
            if "count" in call.args:
                command += ["COUNT", call.args["count"]]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        raw = flat_map(replies[0])
        entry_names = [name for name in ("first_entry", "last_entry") if name in raw]
        batches = [[raw[name]] if raw[name] is not None else [] for name in entry_names]
        batches.append(raw.get("entries") or [])
        shaped, encoding = shape_entries(batches, call.encoding)
        single_entries = {
            name: (entries[0] if entries else None) for name, entries in zip(entry_names, shaped[:-1], strict=True)
        }

        info = {"key": call.key}
        for name, value in raw.items():
            if name in single_entries:
                info[name] = single_entries[name]
            elif name == "entries":
                info[name] = shaped[-1]
            elif name == "groups" and isinstance(value, list):
                info[name] = [shape_full_group(group) for group in value]
            else:
                info[name] = plain(value)
        info["encoding"] = encoding
        return info


@area.register
class GroupsInfo(DataOperation):
    """``GET ?op=groups``: XINFO GROUPS. A missing stream returns 404 ``key_not_found``."""

    name, method, permission = "groups", "GET", READ
    redis_type = "stream"
    not_found_codes = STREAM_NOT_FOUND

    def commands(self, call: Call):
        return [("XINFO", "GROUPS", call.redis_key)]

    def result(self, call: Call, replies: list):
        groups = [{name: plain(value) for name, value in flat_map(raw).items()} for raw in replies[0]]
        return {"key": call.key, "groups": groups}


@area.register
class ConsumersInfo(DataOperation):
    """``GET ?op=consumers&group=``: XINFO CONSUMERS; ``idle`` is in milliseconds.

    A missing stream returns 404 ``key_not_found`` and a missing group 404 ``group_not_found``.
    """

    name, method, permission = "consumers", "GET", READ
    redis_type = "stream"
    serializer_class = ConsumersArguments
    not_found_codes = GROUP_NOT_FOUND | STREAM_NOT_FOUND

    def commands(self, call: Call):
        return [("XINFO", "CONSUMERS", call.redis_key, call.args["group"])]

    def result(self, call: Call, replies: list):
        consumers = [{name: plain(value) for name, value in flat_map(raw).items()} for raw in replies[0]]
        return {"key": call.key, "group": call.args["group"], "consumers": consumers}
