"""Running data operations against the data Redis."""

from typing import Any

import redis.exceptions
from redis import Redis

from apps.api.errors import Conflict, ResourceNotFound
from apps.api.exceptions import translate_exception
from apps.core.redis import routing_options

from .batch import can_send, send_commands
from .keys import key_prefix
from .operations import Call, DataOperation


def run_operation(client: Redis, operation: DataOperation, call: Call) -> Any:
    """Send the operation's commands in one round trip and shape the replies.

    Raises the API error for the first command Redis rejected.
    """
    commands = operation.commands(call)
    routing_key = key_prefix(call.namespace)
    if len(commands) == 1:
        try:
            replies = [client.execute_command(*commands[0], **routing_options(client, commands[0], routing_key))]
        except redis.exceptions.ResponseError as exc:
            raise reply_error(operation, exc) from exc
    else:
        if can_send(client):
            replies = send_commands(client, commands)
        else:
            pipeline = client.pipeline(transaction=False)
            for command in commands:
                pipeline.execute_command(*command, **routing_options(client, command, routing_key))
            replies = pipeline.execute(raise_on_error=False)
        raise_first_error(operation, replies)
    return operation.result(call, replies)


def raise_first_error(operation: DataOperation, replies: list) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply_error(operation, reply)


def reply_error(operation: DataOperation, exc: Exception) -> Exception:
    """Map a Redis error reply to an API error, trying the operation's own codes first."""
    if isinstance(exc, redis.exceptions.ResponseError):
        text = str(exc)
        for fragment, (code, message) in operation.not_found_codes.items():
            if fragment in text:
                return ResourceNotFound(message, code=code)
        for fragment, (code, message) in operation.error_codes.items():
            if fragment in text:
                return Conflict(message, code=code)
    return translate_exception(exc)
