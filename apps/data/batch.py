"""Sending the commands of a plain pipeline to a standalone data Redis in one write.

redis-py's Pipeline runs each argument through its encoder, stages each command with its
options and reads each reply through the client's response callbacks. With the
validation of the operations made cheap, that was half of the server CPU time of a
100-operation pipeline request (py-spy under wrk, docs/benchmarks.md). The data client
has no response callbacks (apps.core.redis), so ``send_commands`` packs each command with
hiredis and reads the replies straight from the connection.

Like ``Pipeline(transaction=False).execute(raise_on_error=False)`` in redis-py 8.2, it
returns error replies as ResponseError instances, and disconnects a connection whose
replies were not all read. After a connection error it sends the whole batch again as
often as the connection's retry policy allows, so, as with redis-py, a command that
reached Redis before the error may run twice.
"""

from redis import Redis
from redis.exceptions import ResponseError

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis is pinned in requirements/base.txt
    pack_command = None

# Argument types that hiredis packs as redis-py's encoder would (UTF-8 text, bytes, decimal integers).
_PACKED_AS_IS = frozenset({str, bytes, int})


def can_send(client) -> bool:
    """Return whether ``send_commands`` returns for ``client`` what redis-py's Pipeline would."""
    if pack_command is None or type(client) is not Redis or client.response_callbacks:
        return False
    encoder = client.get_encoder()
    return encoder.encoding == "utf-8" and encoder.encoding_errors == "strict" and not encoder.decode_responses


def send_commands(client: Redis, commands: list[tuple]) -> list:
    """Send the commands in one write and return their replies, error replies as ResponseError instances."""
    encode = client.get_encoder().encode
    packed = b"".join([pack_command(_packable(command, encode)) for command in commands])
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        return connection.retry.call_with_retry(
            lambda: _exchange(connection, packed, len(commands)),
            lambda error: connection.disconnect(),
        )
    finally:
        pool.release(connection)


def _packable(command: tuple, encode) -> tuple:
    """Return the command with every argument of another type (float, bool...) passed through redis-py's encoder."""
    for argument in command:
        if type(argument) not in _PACKED_AS_IS:
            return tuple(argument if type(argument) in _PACKED_AS_IS else encode(argument) for argument in command)
    return command


def _exchange(connection, packed: bytes, count: int) -> list:
    # A list of chunks: send_packed_command iterates over what it gets.
    connection.send_packed_command([packed])
    replies = []
    try:
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
    except BaseException:
        # Replies left on the socket would reach the connection's next user.
        connection.disconnect()
        raise
    return replies
