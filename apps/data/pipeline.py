"""Running many area operations in one request and one Redis round trip.

Non-atomic pipelines report a result or an error per operation; one failure does not
stop the others. Atomic pipelines first validate and authorize every operation, then run
them in one Lua script that checks every key's type before it runs anything, so a type
clash changes nothing. Like MULTI/EXEC, the script does not undo earlier commands when
Redis rejects a later one at run time (an increment of a non-numeric value, say).
"""

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _
from redis import Redis, RedisCluster
from redis.commands.core import Script
from rest_framework import serializers

from apps.api.errors import ApiError, Conflict, InvalidInput, PayloadTooLarge
from apps.api.exceptions import describe_error
from apps.api.fields import StrictBooleanField, StrictCharField, StrictSerializer
from apps.core.redis import routing_options
from apps.tenancy.keycache import ResolvedKey

from .areas import AREAS
from .batch import can_send, send_commands
from .fastpath.validation import validated_data
from .keys import key_prefix
from .operations import Call, DataOperation, parse_encoding
from .runner import reply_error

# Checks the Redis type of every key, then runs every command.
# ARGV[1]: JSON {"checks": [[key, type], ...], "lengths": [argument count per command]};
# ARGV[2...]: the arguments of all commands in order, as bytes, so binary values pass.
# Returns {"clash", index} on a type clash, else {"done", reply, reply, ...}.
_ATOMIC_SCRIPT = """
local plan = cjson.decode(ARGV[1])
for index, check in ipairs(plan.checks) do
  local actual = redis.call('TYPE', check[1])['ok']
  if actual ~= 'none' and actual ~= check[2] then
    return {'clash', index - 1}
  end
end
local replies = {'done'}
local position = 2
for _, length in ipairs(plan.lengths) do
  local command = {}
  for i = 1, length do
    command[i] = ARGV[position]
    position = position + 1
  end
  replies[#replies + 1] = redis.pcall(unpack(command))
end
return replies
"""


class OperationSpec(StrictSerializer):
    area = serializers.ChoiceField(choices=sorted(AREAS))
    op = StrictCharField()
    key = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="omit for area-wide operations"
    )
    args = serializers.DictField(required=False, default=dict)
    encoding = serializers.ChoiceField(choices=["utf-8", "base64"], required=False, default="utf-8")


class PipelineRequest(StrictSerializer):
    operations = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    atomic = StrictBooleanField(required=False, default=False)

    def validate_operations(self, operations: list) -> list:
        if len(operations) > settings.REDGX_MAX_PIPELINE_OPERATIONS:
            raise PayloadTooLarge(
                _("The pipeline has %(count)d operations, the limit is %(limit)d.")
                % {"count": len(operations), "limit": settings.REDGX_MAX_PIPELINE_OPERATIONS},
                code="too_many_operations",
            )
        return operations


@dataclass
class Planned:
    """One operation of a pipeline, ready to run or already failed."""

    index: int
    operation: DataOperation | None = None
    call: Call | None = None
    commands: list = field(default_factory=list)
    error: tuple[int, dict] | None = None


def plan(index: int, spec: dict, namespace: str, key: ResolvedKey) -> Planned:
    """Validate, authorize and build one operation; errors are kept, not raised."""
    planned = Planned(index)
    try:
        spec = validated_data(OperationSpec, spec)
        area = AREAS[spec["area"]]
        collection = "key" not in spec
        operation = area.find(spec["op"], collection=collection)
        if operation is None:
            raise InvalidInput(
                _("Area '%(area)s' has no %(kind)s operation '%(op)s'.")
                % {"area": area.name, "op": spec["op"], "kind": _("area-wide") if collection else _("key")},
                code="unknown_operation",
            )
        if operation.blocking:
            raise InvalidInput(_("Blocking operations cannot run in a pipeline."), code="blocking_not_allowed")
        if not key.allows(namespace, operation.permission):
            raise ApiError(
                _("This API key has no %(permission)s permission in namespace '%(namespace)s'.")
                % {"permission": operation.permission.value, "namespace": namespace},
                code="permission_denied",
                status=403,
            )
        encoding = parse_encoding(spec["encoding"])
        args = operation.validate(spec["args"], from_query=False, encoding=encoding)
        call = Call(namespace=namespace, key=spec.get("key", ""), args=args, encoding=encoding)
        planned.operation, planned.call = operation, call
        planned.commands = operation.commands(call)
    except Exception as exc:
        planned.error = describe_error(exc)
    return planned


def run_pipeline(client: Redis, namespace: str, key: ResolvedKey, specs: list, *, atomic: bool) -> list[dict]:
    planned = [plan(index, spec, namespace, key) for index, spec in enumerate(specs)]
    if atomic:
        failed = [item for item in planned if item.error]
        if failed:
            raise _whole_pipeline_error(failed)
        replies = _run_atomic(client, namespace, planned)
    else:
        replies = _run_plain(client, namespace, planned)
    return [_outcome(item, replies.get(item.index)) for item in planned]


def _run_plain(client: Redis, namespace: str, planned: list[Planned]) -> dict[int, list]:
    runnable = [item for item in planned if item.error is None]
    commands = [command for item in runnable for command in item.commands]
    if not commands:
        flat = []
    elif can_send(client):
        flat = send_commands(client, commands)
    else:
        pipeline = client.pipeline(transaction=False)
        routing_key = key_prefix(namespace)
        # Only cluster clients route commands, so a standalone client skips the check per command.
        cluster = isinstance(client, RedisCluster)
        for command in commands:
            options = routing_options(client, command, routing_key) if cluster else {}
            pipeline.execute_command(*command, **options)
        flat = pipeline.execute(raise_on_error=False)
    return _split(runnable, flat)


_script: Script | None = None


def _run_atomic(client: Redis, namespace: str, planned: list[Planned]) -> dict[int, list]:
    global _script
    if _script is None or _script.registered_client is not client:
        _script = client.register_script(_ATOMIC_SCRIPT)
    checks, keys = [], []
    for item in planned:
        keys.extend(item.operation.keys(item.call))
        if item.operation.redis_type:
            for redis_key in item.operation.typed_keys(item.call):
                checks.append([redis_key, item.operation.redis_type, item.index])
    commands = [command for item in planned for command in item.commands]
    document = json.dumps({"checks": [check[:2] for check in checks], "lengths": [len(c) for c in commands]})
    arguments = [part for command in commands for part in command]
    # A Redis Cluster runs the script on the node of its keys. Area-wide operations (SCAN)
    # name none, so the namespace prefix, which shares the namespace's hash tag, is used instead.
    reply = _script(keys=keys or [key_prefix(namespace)], args=[document, *arguments], client=client)
    if reply[0] == b"clash":
        clash = checks[reply[1]]
        raise Conflict(
            _("Operation %(index)d needs a key of type %(type)s, which another type holds. Nothing was run.")
            % {"index": clash[2], "type": clash[1]},
            code="wrong_type",
        )
    return _split(planned, reply[1:])


def _split(runnable: list[Planned], flat: list) -> dict[int, list]:
    replies, position = {}, 0
    for item in runnable:
        count = len(item.commands)
        replies[item.index] = flat[position : position + count]
        position += count
    return replies


def _outcome(item: Planned, replies: list | None) -> dict:
    if item.error is None:
        try:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply_error(item.operation, reply)
            return {"ok": True, "data": item.operation.result(item.call, replies)}
        except Exception as exc:
            item.error = describe_error(exc)
    status, body = item.error
    return {"ok": False, "status": status, "error": body}


def _whole_pipeline_error(failed: list[Planned]) -> ApiError:
    """Build one error for an atomic pipeline: the status of the first failure, every failure listed."""
    status, body = failed[0].error
    error = ApiError(
        _("Operation %(index)d failed: %(message)s Nothing was run.")
        % {"index": failed[0].index, "message": body["message"]},
        code=body["code"],
        status=status,
    )
    error.fields = {str(item.index): item.error[1] for item in failed}
    return error
