"""Running checked commands: one at a time, as a pipeline, or as a MULTI/EXEC transaction."""

import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext as _
from redis import Redis
from rest_framework.exceptions import APIException, PermissionDenied

from apps.api.errors import PayloadTooLarge
from apps.core.redis import blocking_data_redis, data_redis, routing_options
from apps.data.views import blocking_slot
from apps.tenancy.keycache import ResolvedKey

from .commands import (
    CommandError,
    PreparedCommand,
    command_error,
    confirm_keys,
    prepare,
    strip_key_names,
    strip_prefix_from_text,
    with_error_code,
)
from .protocol import command_from_json, redis_error_text, result_to_json

# redis-py prefixes errors of queued commands with this; the prefix quotes namespaced keys.
_PIPELINE_ERROR_MARKER = "of pipeline caused error: "


def check_permission(key: ResolvedKey, namespace: str, command: PreparedCommand) -> None:
    if not key.allows(namespace, command.permission):
        raise PermissionDenied(
            _("this API key has no %(permission)s permission in namespace '%(namespace)s', which '%(command)s' needs.")
            % {"permission": command.permission.value, "namespace": namespace, "command": command.name}
        )


def prepare_for_key(client: Redis, namespace: str, key: ResolvedKey, args: list[bytes]) -> PreparedCommand:
    """Check, authorize and rewrite one command; raise the API error that rejects it."""
    command = prepare(client, namespace, args)
    check_permission(key, namespace, command)
    try:
        confirm_keys(client, command)
    except redis.exceptions.ResponseError as exc:
        # COMMAND GETKEYS rejects arguments the command itself would reject.
        raise CommandError(_clean_error(command, exc)) from None
    return command


def run_command(namespace: str, key: ResolvedKey, args: list[bytes], encode_base64: bool):
    """Run one command and return its result as JSON values."""
    client = data_redis()
    command = prepare_for_key(client, namespace, key, args)
    if command.block_ms is not None:
        with blocking_slot():
            reply = _execute(blocking_data_redis(), command)
    else:
        reply = _execute(client, command)
    return result_to_json(reply, encode_base64)


def _execute(client: Redis, command: PreparedCommand):
    if command.name == "keys":
        return strip_key_names(command, _keys_by_scan(client, command))
    try:
        reply = client.execute_command(*_wire_args(command), **_routing(client, command))
    except redis.exceptions.ResponseError as exc:
        raise CommandError(_clean_error(command, exc)) from None
    return strip_key_names(command, reply)


# COUNT of each SCAN step; a KEYS reply is built from these steps.
KEYS_SCAN_COUNT = 1000


def _keys_by_scan(client: Redis, command: PreparedCommand) -> list[bytes]:
    """Run KEYS as a SCAN loop over the namespace's prefix.

    Redis's own KEYS walks every key of the server in one call, which stalls every other
    client of the data Redis while it runs. SCAN takes short steps, and the reply stops at
    REDGX_MAX_ITEMS_PER_REQUEST keys.
    """
    pattern = command.args[1]
    routing = routing_options(client, ["SCAN"], command.prefix.decode())
    limit = settings.REDGX_MAX_ITEMS_PER_REQUEST
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, keys = client.execute_command("SCAN", cursor, "MATCH", pattern, "COUNT", KEYS_SCAN_COUNT, **routing)
        found.extend(keys)
        if len(found) > limit:
            raise command_error(
                _("more than %(limit)d keys match the pattern. Use SCAN to page through them.") % {"limit": limit}
            )
        if int(cursor) == 0:
            return found


def run_batch(namespace: str, key: ResolvedKey, body, encode_base64: bool, *, atomic: bool) -> list[dict]:
    """Run a pipeline (in order, not atomic) or a transaction (MULTI/EXEC) of JSON commands.

    Each command gets ``{"result": ...}`` or ``{"error": "..."}``. A pipeline reports a
    rejected command in its place and runs the rest. A transaction with a rejected command
    runs nothing and raises that command's error, as Redis replies EXECABORT.
    """
    # A single command posted here (["GET", "k"]) is a mistake to report whole, not per item.
    if not isinstance(body, list) or not body or not all(isinstance(item, list) for item in body):
        raise command_error(_("the request body must be a JSON array of commands, each a JSON array."))
    if len(body) > settings.REDGX_MAX_PIPELINE_OPERATIONS:
        message = _("the request has %(count)d commands, the limit is %(limit)d.") % {
            "count": len(body),
            "limit": settings.REDGX_MAX_PIPELINE_OPERATIONS,
        }
        raise PayloadTooLarge(with_error_code("ERR", message))

    client = data_redis()
    planned: list[PreparedCommand | APIException] = []
    for index, item in enumerate(body):
        try:
            planned.append(prepare_for_key(client, namespace, key, command_from_json(item)))
        except APIException as exc:
            if atomic:
                raise _transaction_aborted(index, exc) from None
            planned.append(exc)

    for index, item in enumerate(planned):
        if isinstance(item, PreparedCommand) and item.name == "keys":
            # One KEYS is a loop of SCAN steps (see _keys_by_scan), which a pipeline cannot hold.
            exc = command_error(_("KEYS runs only as a single command. Use SCAN in a pipeline or transaction."))
            if atomic:
                raise _transaction_aborted(index, exc) from None
            planned[index] = exc

    runnable = [item for item in planned if isinstance(item, PreparedCommand)]
    replies = iter(_execute_many(client, runnable, atomic=atomic))
    results = []
    for item in planned:
        if isinstance(item, APIException):
            results.append({"error": _api_error_text(item)})
            continue
        reply = next(replies)
        if isinstance(reply, Exception):
            results.append({"error": _clean_error(item, reply)})
            continue
        try:
            results.append({"result": result_to_json(strip_key_names(item, reply), encode_base64)})
        except CommandError as exc:
            results.append({"error": _api_error_text(exc)})
    return results


def _execute_many(client: Redis, commands: list[PreparedCommand], *, atomic: bool) -> list:
    if not commands:
        return []
    # Inside MULTI/EXEC blocking commands do not block, so only a plain pipeline waits.
    block_ms = 0 if atomic else sum(command.block_ms or 0 for command in commands)
    if block_ms > settings.REDGX_MAX_BLOCK_MS:
        raise command_error(
            _("the blocking commands of one pipeline may wait %(limit)d ms in total, these ask for %(total)d ms.")
            % {"limit": settings.REDGX_MAX_BLOCK_MS, "total": block_ms}
        )
    if block_ms:
        with blocking_slot():
            return _send(blocking_data_redis(), commands, atomic=atomic)
    return _send(client, commands, atomic=atomic)


def _send(client: Redis, commands: list[PreparedCommand], *, atomic: bool) -> list:
    pipeline = client.pipeline(transaction=atomic)
    for command in commands:
        pipeline.execute_command(*_wire_args(command), **_routing(client, command))
    try:
        return pipeline.execute(raise_on_error=False)
    except redis.exceptions.ResponseError as exc:
        # Only a transaction gets here: Redis discarded it with EXECABORT.
        raise CommandError(_clean_error(commands[0], exc)) from None


def _wire_args(command: PreparedCommand) -> list:
    """Return the command's arguments with its name (and subcommand) as text.

    RedisCluster looks the name up in its routing tables as text; bytes would match no
    entry. Both forms are the same bytes on the wire.
    """
    name_length = len(command.name.split("|"))
    return [*(part.decode("ascii") for part in command.args[:name_length]), *command.args[name_length:]]


def _routing(client: Redis, command: PreparedCommand) -> dict:
    return routing_options(client, _wire_args(command), command.prefix.decode())


def _transaction_aborted(index: int, exc: APIException) -> APIException:
    message = _("Transaction discarded because command %(index)d was rejected: %(error)s") % {
        "index": index,
        "error": _api_error_text(exc),
    }
    aborted = CommandError(with_error_code("EXECABORT", message))
    aborted.status_code = exc.status_code
    return aborted


def _api_error_text(exc: APIException) -> str:
    text = str(exc.detail)
    return with_error_code("NOPERM", text) if isinstance(exc, PermissionDenied) else text


def _clean_error(command: PreparedCommand, exc: Exception) -> str:
    text = str(exc)
    if _PIPELINE_ERROR_MARKER in text:
        text = text.split(_PIPELINE_ERROR_MARKER, 1)[1]
    return strip_prefix_from_text(command.prefix, redis_error_text(exc, text))
