"""Event entries: append, ranges, length, reads without a group, delete and trim."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictSerializer

from ...operations import BlockTimeoutField, Call, DataOperation
from ...values import ValueField, check_item_count, decode_value
from .common import (
    ID_TOO_SMALL,
    READ,
    U64_MAX,
    WRITE,
    CountField,
    StreamIdField,
    StreamIdListField,
    area,
    check_count_limit,
    default_count,
    parse_stream_id,
    shape_entries,
    shape_one_batch,
    stream_replies,
    text,
)


class EntryFieldsField(serializers.DictField):
    """An entry's fields as a JSON object whose names and values are in the request's encoding.

    Returns ``[(name, value), ...]`` as bytes, in the order of the object.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("child", ValueField())
        kwargs.setdefault("allow_empty", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[tuple[bytes, bytes]]:
        if isinstance(data, dict):
            check_item_count(data, self.field_name)
        values = super().to_internal_value(data)
        encoding = self.context.get("encoding", "utf-8")
        pairs, seen = [], set()
        for name, value in values.items():
            raw_name = decode_value(name, encoding)
            if len(raw_name) > settings.REDGX_MAX_VALUE_BYTES:
                raise PayloadTooLarge(
                    _("A field name is larger than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_VALUE_BYTES}
                )
            if raw_name in seen:
                # Only base64 can get here: two spellings of the same bytes.
                raise serializers.ValidationError(_("Two field names decode to the same bytes."))
            seen.add(raw_name)
            pairs.append((raw_name, value))
        return pairs


class TrimArguments(StrictSerializer):
    maxlen = StrictIntegerField(required=False, min_value=0, help_text="keep at most this many entries")
    minid = StreamIdField(required=False, help_text="evict entries with lower IDs")
    approximate = StrictBooleanField(required=False, default=False, help_text="trim with ~, at whole macro nodes")
    limit = StrictIntegerField(
        required=False, min_value=0, help_text="max entries one approximate trim evicts; 0 for no limit"
    )
    trim_required = True

    def validate(self, attrs: dict) -> dict:
        strategies = [name for name in ("maxlen", "minid") if name in attrs]
        if len(strategies) > 1:
            raise serializers.ValidationError({"minid": [_("Give only one of maxlen and minid.")]})
        if not strategies and self.trim_required:
            raise serializers.ValidationError({"maxlen": [_("Give maxlen or minid.")]})
        if not strategies and (attrs["approximate"] or "limit" in attrs):
            name = "limit" if "limit" in attrs else "approximate"
            raise serializers.ValidationError({name: [_("Needs maxlen or minid.")]})
        if "limit" in attrs and not attrs["approximate"]:
            raise serializers.ValidationError({"limit": [_("Redis accepts limit only with approximate: true.")]})
        return attrs


def trim_clause(args: dict) -> list:
    """Build the MAXLEN or MINID clause of XADD and XTRIM, or an empty list when no trim was requested."""
    if "maxlen" in args:
        clause = ["MAXLEN", "~" if args["approximate"] else "=", args["maxlen"]]
    elif "minid" in args:
        clause = ["MINID", "~" if args["approximate"] else "=", args["minid"]]
    else:
        return []
    if "limit" in args:
        clause += ["LIMIT", args["limit"]]
    return clause


class AddArguments(TrimArguments):
    fields = EntryFieldsField(help_text="field name -> value")
    id = StreamIdField(
        required=False, default="*", specials="*", auto_sequence=True, help_text="* or an ID above the last entry's"
    )
    nomkstream = StrictBooleanField(required=False, default=False, help_text="do not create a missing stream")
    trim_required = False

    def validate_id(self, value: str) -> str:
        if not value.endswith("*") and parse_stream_id(value) in ((0, None), (0, 0)):
            raise serializers.ValidationError(_("Must be greater than 0-0."))
        return value


class RangeArguments(StrictSerializer):
    start = StreamIdField(required=False, default="-", specials="-+", exclusive=True)
    end = StreamIdField(required=False, default="+", specials="-+", exclusive=True)
    count = CountField(required=False, help_text="defaults to REDGX_MAX_ITEMS_PER_REQUEST")

    def validate(self, attrs: dict) -> dict:
        # Redis cannot step past the largest ID or before 0-0.
        if attrs["start"].startswith("(") and parse_stream_id(attrs["start"][1:]) == (U64_MAX, U64_MAX):
            raise serializers.ValidationError({"start": [_("No ID comes after the largest stream ID.")]})
        if attrs["end"].startswith("(") and parse_stream_id(attrs["end"][1:]) == (0, 0):
            raise serializers.ValidationError({"end": [_("No ID comes before 0-0.")]})
        return attrs


class ReadArguments(StrictSerializer):
    key = serializers.ListField(
        child=StrictCharField(trim_whitespace=False), required=False, default=list, help_text="more streams to read"
    )
    id = serializers.ListField(
        child=StreamIdField(specials="$"),
        required=False,
        help_text="read entries after this ID; one per stream, the URL key first",
    )
    count = CountField(required=False, help_text="per stream")
    default_id = "0-0"

    def validate_key(self, names: list[str]) -> list[str]:
        check_item_count(names, "key")
        if len(set(names)) != len(names):
            raise serializers.ValidationError(_("Each stream may appear only once."))
        return names

    def validate(self, attrs: dict) -> dict:
        streams = 1 + len(attrs["key"])
        check_count_limit(streams, "key")
        if "id" not in attrs:
            attrs["id"] = [self.default_id] * streams
        elif len(attrs["id"]) != streams:
            raise serializers.ValidationError(
                {"id": [_("Give one ID per stream: %(count)d, the URL key first.") % {"count": streams}]}
            )
        if "count" in attrs:
            check_count_limit(attrs["count"] * streams, "count")
        else:
            attrs["count"] = max(1, default_count() // streams)
        return attrs


class BlockingReadArguments(ReadArguments):
    timeout_ms = BlockTimeoutField()
    default_id = "$"


class DeleteArguments(StrictSerializer):
    id = StreamIdListField()


class _Range(DataOperation):
    method, permission = "GET", READ
    redis_type = "stream"
    serializer_class = RangeArguments

    def result(self, call: Call, replies: list):
        entries, encoding = shape_one_batch(replies[0], call.encoding)
        return {"key": call.key, "entries": entries, "encoding": encoding}


@area.register
class Add(DataOperation):
    """``POST /event/{key}``: XADD with an explicit ID or ``*``, NOMKSTREAM and MAXLEN/MINID trimming.

    With ``nomkstream`` on a missing stream nothing is written: ``added: false`` and ``id: null``.
    An explicit ID not above the stream's last ID returns 409 ``id_too_small``.
    """

    name, method, permission, default = "add", "POST", WRITE, True
    redis_type = "stream"
    serializer_class = AddArguments
    error_codes = ID_TOO_SMALL

    def commands(self, call: Call):
        args = call.args
        command = ["XADD", call.redis_key]
        if args["nomkstream"]:
            command.append("NOMKSTREAM")
        command += trim_clause(args)
        command.append(args["id"])
        for name, value in args["fields"]:
            command += [name, value]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        entry_id = text(replies[0])
        return {"key": call.key, "added": entry_id is not None, "id": entry_id}


@area.register
class Range(_Range):
    """``GET /event/{key}?start=-&end=+&count=``: XRANGE, oldest first. A missing stream has no entries.

    A page contains at most ``count`` entries (REDGX_MAX_ITEMS_PER_REQUEST by default). The next page
    starts at ``(`` and the last ID returned.
    """

    name, default = "range", True

    def commands(self, call: Call):
        args = call.args
        return [("XRANGE", call.redis_key, args["start"], args["end"], "COUNT", args.get("count", default_count()))]


@area.register
class ReverseRange(_Range):
    """``GET ?op=revrange&start=-&end=+&count=``: XREVRANGE, newest first.

    ``start`` is the low bound and ``end`` the high one, as in XRANGE; the next page ends at ``(``
    and the last ID returned.
    """

    name = "revrange"

    def commands(self, call: Call):
        args = call.args
        count = args.get("count", default_count())
        return [("XREVRANGE", call.redis_key, args["end"], args["start"], "COUNT", count)]


@area.register
class Length(DataOperation):
    """``GET ?op=len``: XLEN. A missing stream has length 0."""

    name, method, permission = "len", "GET", READ
    redis_type = "stream"

    def commands(self, call: Call):
        return [("XLEN", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "length": replies[0]}


@area.register
class Read(DataOperation):
    """``GET ?op=read&key=other&id=0-0&id=0-0&count=``: XREAD without BLOCK over the URL key and ``key``.

    ``id`` gives one ID per stream, the URL key first, and defaults to ``0-0`` for all.
    ``streams`` maps every requested name to its entries, empty for a missing stream. ``count``
    applies per stream, and all streams together may return REDGX_MAX_ITEMS_PER_REQUEST entries.
    """

    name, method, permission = "read", "GET", READ
    redis_type = "stream"
    serializer_class = ReadArguments

    def keys(self, call: Call) -> list[str]:
        return [call.redis_key, *(call.other_key(name) for name in call.args["key"])]

    def read_options(self, call: Call) -> list:
        return []

    def commands(self, call: Call):
        if call.key in call.args["key"]:
            raise serializers.ValidationError({"key": [_("Each stream may appear only once, the URL key included.")]})
        command = ["XREAD", "COUNT", call.args["count"], *self.read_options(call), "STREAMS"]
        return [tuple(command + self.keys(call) + call.args["id"])]

    def result(self, call: Call, replies: list):
        names = [call.key, *call.args["key"]]
        names_by_redis_key = dict(zip(self.keys(call), names, strict=True))
        found = {
            names_by_redis_key[text(redis_key)]: raw_entries for redis_key, raw_entries in stream_replies(replies[0])
        }
        batches, encoding = shape_entries([found.get(name, []) for name in names], call.encoding)
        return {"key": call.key, "streams": dict(zip(names, batches, strict=True)), "encoding": encoding}


@area.register
class BlockingRead(Read):
    """``GET ?op=readblock&timeout_ms=...``: XREAD BLOCK, waiting up to ``timeout_ms`` for new entries.

    Takes the arguments of ``read``, but ``id`` defaults to ``$`` (entries added after the call).
    When the wait times out, every stream in ``streams`` is empty.
    """

    name = "readblock"
    blocking = True
    serializer_class = BlockingReadArguments

    def read_options(self, call: Call) -> list:
        return ["BLOCK", call.args["timeout_ms"]]


@area.register
class DeleteEntries(DataOperation):
    """``DELETE ?op=del&id=...&id=...``: XDEL; returns how many of the entries existed."""

    name, method, permission = "del", "DELETE", WRITE
    redis_type = "stream"
    serializer_class = DeleteArguments

    def commands(self, call: Call):
        return [("XDEL", call.redis_key, *call.args["id"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "deleted": replies[0]}


@area.register
class Trim(DataOperation):
    """``POST ?op=trim``: XTRIM with ``maxlen`` or ``minid``, exact or ``approximate`` with ``limit``.

    Returns how many entries were evicted; 0 for a missing stream.
    """

    name, method, permission = "trim", "POST", WRITE
    redis_type = "stream"
    serializer_class = TrimArguments

    def commands(self, call: Call):
        return [("XTRIM", call.redis_key, *trim_clause(call.args))]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "deleted": replies[0]}
