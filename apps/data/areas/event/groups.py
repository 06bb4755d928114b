"""Consumer groups: create and destroy them, manage their consumers, read as a consumer."""

from apps.api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer

from ...operations import BlockTimeoutField, Call, DataOperation
from .common import (
    GROUP_EXISTS,
    GROUP_NOT_FOUND,
    GROUP_STREAM_NOT_FOUND,
    WRITE,
    CountField,
    NameField,
    StreamIdField,
    area,
    default_count,
    shape_one_batch,
    stream_replies,
)


class GroupArguments(StrictSerializer):
    group = NameField()


class ConsumerArguments(GroupArguments):
    consumer = NameField()


class CreateGroupArguments(GroupArguments):
    id = StreamIdField(required=False, default="$", specials="$", help_text="$ for new entries only, 0 for all")
    mkstream = StrictBooleanField(required=False, default=False, help_text="create the stream if it is missing")
    entries_read = StrictIntegerField(required=False, min_value=0, help_text="entries read so far, for the lag")


class SetIdArguments(GroupArguments):
    id = StreamIdField(specials="$")
    entries_read = StrictIntegerField(required=False, min_value=0, help_text="entries read so far, for the lag")


class ReadGroupArguments(ConsumerArguments):
    id = StreamIdField(
        required=False, default=">", specials=">", help_text="> for new entries, an ID for this consumer's pending"
    )
    count = CountField(required=False, help_text="defaults to REDGX_MAX_ITEMS_PER_REQUEST")
    noack = StrictBooleanField(required=False, default=False, help_text="do not add the entries to the pending list")


class BlockingReadGroupArguments(ReadGroupArguments):
    timeout_ms = BlockTimeoutField()


class GroupOperation(DataOperation):
    """Base of the consumer group operations: POST with write permission by default, NOGROUP as 404."""

    method, permission = "POST", WRITE
    redis_type = "stream"
    not_found_codes = GROUP_NOT_FOUND


@area.register
class CreateGroup(GroupOperation):
    """``POST ?op=creategroup``: XGROUP CREATE from ``id`` (``$``, ``0`` or an ID), MKSTREAM, ENTRIESREAD.

    An existing group returns 409 ``group_exists``. A missing stream without ``mkstream`` returns
    404 ``key_not_found``.
    """

    name = "creategroup"
    serializer_class = CreateGroupArguments
    error_codes = GROUP_EXISTS
    not_found_codes = GROUP_STREAM_NOT_FOUND

    def commands(self, call: Call):
        args = call.args
        command = ["XGROUP", "CREATE", call.redis_key, args["group"], args["id"]]
        if args["mkstream"]:
            command.append("MKSTREAM")
        if "entries_read" in args:
            command += ["ENTRIESREAD", args["entries_read"]]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "group": call.args["group"], "created": True}


@area.register
class DestroyGroup(GroupOperation):
    """``DELETE ?op=destroygroup&group=``: XGROUP DESTROY. A missing group returns ``destroyed: false``."""

    name, method = "destroygroup", "DELETE"
    serializer_class = GroupArguments
    not_found_codes = GROUP_STREAM_NOT_FOUND

    def commands(self, call: Call):
        return [("XGROUP", "DESTROY", call.redis_key, call.args["group"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "group": call.args["group"], "destroyed": replies[0] == 1}


@area.register
class CreateConsumer(GroupOperation):
    """``POST ?op=createconsumer``: XGROUP CREATECONSUMER, returning ``created: false`` if it existed."""

    name = "createconsumer"
    serializer_class = ConsumerArguments
    not_found_codes = GROUP_NOT_FOUND | GROUP_STREAM_NOT_FOUND

    def commands(self, call: Call):
        return [("XGROUP", "CREATECONSUMER", call.redis_key, call.args["group"], call.args["consumer"])]

    def result(self, call: Call, replies: list):
        args = call.args
        return {"key": call.key, "group": args["group"], "consumer": args["consumer"], "created": replies[0] == 1}


@area.register
class DeleteConsumer(GroupOperation):
    """``DELETE ?op=delconsumer&group=&consumer=``: XGROUP DELCONSUMER.

    ``deleted_pending`` counts the consumer's pending entries. Redis drops them from the group's
    pending list, so no consumer can claim them afterwards.
    A missing consumer returns 0.
    """

    name, method = "delconsumer", "DELETE"
    serializer_class = ConsumerArguments
    not_found_codes = GROUP_NOT_FOUND | GROUP_STREAM_NOT_FOUND

    def commands(self, call: Call):
        return [("XGROUP", "DELCONSUMER", call.redis_key, call.args["group"], call.args["consumer"])]

    def result(self, call: Call, replies: list):
        args = call.args
        return {"key": call.key, "group": args["group"], "consumer": args["consumer"], "deleted_pending": replies[0]}


@area.register
class SetGroupId(GroupOperation):
    """``POST ?op=setid``: XGROUP SETID to ``$`` or an ID, with ENTRIESREAD."""

    name = "setid"
    serializer_class = SetIdArguments
    not_found_codes = GROUP_NOT_FOUND | GROUP_STREAM_NOT_FOUND

    def commands(self, call: Call):
        args = call.args
        command = ["XGROUP", "SETID", call.redis_key, args["group"], args["id"]]
        if "entries_read" in args:
            command += ["ENTRIESREAD", args["entries_read"]]
        return [tuple(command)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "group": call.args["group"], "id": call.args["id"]}


@area.register
class ReadGroup(GroupOperation):
    """``POST ?op=readgroup``: XREADGROUP without BLOCK on the URL key.

    ``id`` is ``>`` (entries never delivered to the group, the default) or an ID to re-read this
    consumer's pending entries after it. There, an entry deleted meanwhile has ``fields: null``.
    ``count`` defaults to REDGX_MAX_ITEMS_PER_REQUEST. A missing group or stream returns 404
    ``group_not_found``.
    """

    name = "readgroup"
    serializer_class = ReadGroupArguments

    def read_options(self, call: Call) -> list:
        return []

    def commands(self, call: Call):
        args = call.args
        command = ["XREADGROUP", "GROUP", args["group"], args["consumer"], "COUNT", args.get("count", default_count())]
        command += self.read_options(call)
        if args["noack"]:
            command.append("NOACK")
        return [(*command, "STREAMS", call.redis_key, args["id"])]

    def result(self, call: Call, replies: list):
        raw_entries = [entry for _key, entries in stream_replies(replies[0]) for entry in entries]
        entries, encoding = shape_one_batch(raw_entries, call.encoding)
        args = call.args
        return {
            "key": call.key,
            "group": args["group"],
            "consumer": args["consumer"],
            "entries": entries,
            "encoding": encoding,
        }


@area.register
class BlockingReadGroup(ReadGroup):
    """``POST ?op=readgroupblock``: XREADGROUP BLOCK, waiting up to ``timeout_ms`` for new entries.

    Takes the arguments of ``readgroup``. When the wait times out, ``entries`` is empty. With an ID
    in place of ``>``, Redis returns the consumer's pending entries at once without waiting.
    """

    name = "readgroupblock"
    blocking = True
    serializer_class = BlockingReadGroupArguments

    def read_options(self, call: Call) -> list:
        return ["BLOCK", call.args["timeout_ms"]]
