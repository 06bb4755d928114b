"""Shared parts of the event operations: the area, stream ID and name fields, reply shaping, error maps."""

import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictCharField, StrictIntegerField
from apps.tenancy.permissions import Permission

from ...operations import Area, ListKeys
from ...values import encode_values

READ, WRITE = Permission.READ, Permission.WRITE
area = Area("event", redis_type="stream")
area.add(ListKeys("stream"))

# Both parts of a stream ID are unsigned 64-bit integers.
U64_MAX = 2**64 - 1
_STREAM_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}|\*))?\Z")

# Redis error text fragment -> (code, message). XADD with an explicit ID:
ID_TOO_SMALL = {
    "equal or smaller than the target stream top item": (
        "id_too_small",
        _("The ID must be greater than the ID of the last entry in the stream."),
    ),
}
GROUP_EXISTS = {"BUSYGROUP": ("group_exists", _("A consumer group with this name already exists on the stream."))}

# Missing groups and streams, for DataOperation.not_found_codes (404).
# NOTE: Redis sends NOGROUP both for a missing group and for a missing stream.
GROUP_NOT_FOUND = {
    "NOGROUP": (
        "group_not_found",
        _("The consumer group or the stream does not exist. Create the group with op=creategroup."),
    ),
}
# XGROUP subcommands other than CREATE with MKSTREAM, on a missing stream:
GROUP_STREAM_NOT_FOUND = {
    "requires the key to exist": (
        "key_not_found",
        _("The stream does not exist. Create it with op=creategroup and mkstream, or with op=add."),
    ),
}
# XINFO on a missing stream:
STREAM_NOT_FOUND = {"no such key": ("key_not_found", _("The stream does not exist."))}


def parse_stream_id(text: str) -> tuple[int, int | None]:
    """Split a validated ``ms-seq`` or ``ms`` ID into numbers; the sequence is None when absent."""
    milliseconds, _dash, sequence = text.partition("-")
    return int(milliseconds), (int(sequence) if sequence else None)


class StreamIdField(StrictCharField):
    """A stream ID, ``ms-seq`` or ``ms``, plus the special forms one command accepts.

    ``specials`` contains the accepted tokens among ``* - + $ >``. ``exclusive`` accepts ``(`` before
    an ID, an open bound of a range. ``auto_sequence`` accepts ``ms-*``, where XADD picks the sequence.
    """

    def __init__(self, *, specials: str = "", exclusive: bool = False, auto_sequence: bool = False, **kwargs):
        self.specials = tuple(specials)
        self.exclusive = exclusive
        self.auto_sequence = auto_sequence
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        text = super().to_internal_value(data)
        if text in self.specials:
            return text
        plain = text[1:] if self.exclusive and text.startswith("(") else text
        match = _STREAM_ID.match(plain)
        valid = match is not None and int(match[1]) <= U64_MAX
        if valid and match[2] == "*":
            valid = self.auto_sequence
        elif valid and match[2] is not None:
            valid = int(match[2]) <= U64_MAX
        if not valid:
            raise serializers.ValidationError(self._describe())
        return text

    def _describe(self) -> str:
        message = str(_("Must be a stream ID such as 1700000000000-0 or 1700000000000."))
        forms = list(self.specials)
        if self.auto_sequence:
            forms.append("1700000000000-*")
        if self.exclusive:
            forms.append("(1700000000000-0")
        if forms:
            message += " " + str(_("Also accepted: %(forms)s.") % {"forms": ", ".join(forms)})
        return message


class StreamIdListField(serializers.ListField):
    """A non-empty list of plain stream IDs, at most REDGX_MAX_ITEMS_PER_REQUEST of them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", StreamIdField())
        kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, list):
            check_count_limit(len(data), self.field_name)
        return super().to_internal_value(data)


class NameField(StrictCharField):
    """A consumer group or consumer name: non-empty text of at most REDGX_MAX_KEY_BYTES bytes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        name = super().to_internal_value(data)
        if len(name.encode()) > settings.REDGX_MAX_KEY_BYTES:
            raise serializers.ValidationError(
                _("Must be at most %(limit)d bytes.") % {"limit": settings.REDGX_MAX_KEY_BYTES}
            )
        return name


class CountField(StrictIntegerField):
    """How many entries to return, from 1; over REDGX_MAX_ITEMS_PER_REQUEST returns 413."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        count = super().to_internal_value(data)
        check_count_limit(count, self.field_name)
        return count


def check_count_limit(count: int, field_name: str) -> None:
    """Raise 413 when a request reads more items than REDGX_MAX_ITEMS_PER_REQUEST."""
    limit = settings.REDGX_MAX_ITEMS_PER_REQUEST
    if count > limit:
        raise PayloadTooLarge(
            _("'%(field)s' requests %(count)d items, the limit is %(limit)d.")
            % {"field": field_name, "count": count, "limit": limit},
            code="too_many_items",
        )


def default_count() -> int:
    return settings.REDGX_MAX_ITEMS_PER_REQUEST


def text(raw):
    """Decode an ID, a group or consumer name, or an info field name; other values pass through.

    NOTE: names written by other Redis clients that are not UTF-8 come back with U+FFFD in place
    of the invalid bytes.
    """
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def plain(value):
    """Turn a reply of scalars, lists and maps into JSON values, decoding bytes as text."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {text(name).replace("-", "_"): plain(item) for name, item in value.items()}
    return text(value)


# The data role is pinned to RESP2 (REDGX_DATA_REDIS_PROTOCOL), the shape Lua scripts see too.
# These helpers also read RESP3 maps, so a deployment that changes the pin keeps working.


def flat_map(reply: list | dict) -> dict:
    """Read a map reply, RESP3 or RESP2's ``[name, value, ...]``, as a dict with snake_case names."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[0::2], reply[1::2], strict=True)
    return {text(name).replace("-", "_"): value for name, value in pairs}


def stream_replies(reply: list | dict | None) -> list[tuple]:
    """Read an XREAD or XREADGROUP reply, a map of key to entries or nil, as ``(key, entries)`` pairs."""
    if reply is None:
        return []
    return list(reply.items()) if isinstance(reply, dict) else [tuple(pair) for pair in reply]


def shape_entries(batches: list[list], requested: str) -> tuple[list[list[dict]], str]:
    """Shape several lists of raw entries ``[id, [field, value, ...]]`` with one encoding.

    Every field name and value of the reply goes through one ``encode_values`` call, so the
    response has a single ``encoding``. An entry deleted after it was delivered to a consumer
    comes back from Redis without fields and is shaped as ``"fields": null``.
    NOTE: an entry written by another client with a repeated field name keeps the last value.
    """
    raws = [part for batch in batches for _entry_id, flat in batch if flat is not None for part in flat]
    texts, encoding = encode_values(raws, requested)
    position = 0
    shaped = []
    for batch in batches:
        entries = []
        for entry_id, flat in batch:
            fields = None
            if flat is not None:
                count = len(flat)
                names_and_values = texts[position : position + count]
                fields = dict(zip(names_and_values[0::2], names_and_values[1::2], strict=True))
                position += count
            entries.append({"id": text(entry_id), "fields": fields})
        shaped.append(entries)
    return shaped, encoding


def shape_one_batch(raw_entries: list | None, requested: str) -> tuple[list[dict], str]:
    (entries,), encoding = shape_entries([raw_entries or []], requested)
    return entries, encoding
