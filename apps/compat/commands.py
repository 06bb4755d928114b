"""Checking and rewriting one Redis command of the Upstash-compatible API.

Every command is checked against an allowlist, classified read or write by Redis's own
``write`` flag, and rewritten so that each key argument carries the namespace prefix
(``ns:{namespace}:``). Key names in replies lose the prefix again.
"""

import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from redis import Redis

from apps.api.errors import ApiError
from apps.data.keys import key_prefix
from apps.tenancy.permissions import Permission

from .keyspecs import CommandInfo, CommandTable

logger = logging.getLogger(__name__)

# The commands of the data areas' Redis types, grouped as docs/upstash.md lists them.
ALLOWED_COMMANDS: dict[str, tuple[str, ...]] = {
    "strings": (
        "append", "decr", "decrby", "get", "getdel", "getex", "getrange", "getset", "incr", "incrby",
        "incrbyfloat", "lcs", "mget", "mset", "msetnx", "psetex", "set", "setex", "setnx", "setrange",
        "strlen", "substr", "bitcount", "bitop", "bitpos", "getbit", "setbit", "pfadd", "pfcount", "pfmerge",
    ),
    "hashes": (
        "hdel", "hexists", "hget", "hgetall", "hincrby", "hincrbyfloat", "hkeys", "hlen", "hmget", "hmset",
        "hrandfield", "hscan", "hset", "hsetnx", "hstrlen", "hvals",
    ),
    "lists": (
        "blmove", "blmpop", "blpop", "brpop", "brpoplpush", "lindex", "linsert", "llen", "lmove", "lmpop",
        "lpop", "lpos", "lpush", "lpushx", "lrange", "lrem", "lset", "ltrim", "rpop", "rpoplpush", "rpush",
        "rpushx",
    ),
    "sets": (
        "sadd", "scard", "sdiff", "sdiffstore", "sinter", "sintercard", "sinterstore", "sismember",
        "smembers", "smismember", "smove", "spop", "srandmember", "srem", "sscan", "sunion", "sunionstore",
    ),
    "sorted sets": (
        "bzmpop", "bzpopmax", "bzpopmin", "zadd", "zcard", "zcount", "zdiff", "zdiffstore", "zincrby",
        "zinter", "zintercard", "zinterstore", "zlexcount", "zmpop", "zmscore", "zpopmax", "zpopmin",
        "zrandmember", "zrange", "zrangebylex", "zrangebyscore", "zrangestore", "zrank", "zrem",
        "zremrangebylex", "zremrangebyrank", "zremrangebyscore", "zrevrange", "zrevrangebylex",
        "zrevrangebyscore", "zrevrank", "zscan", "zscore", "zunion", "zunionstore",
    ),
    "streams": (
        "xack", "xadd", "xautoclaim", "xclaim", "xdel", "xgroup|create", "xgroup|createconsumer",
        "xgroup|delconsumer", "xgroup|destroy", "xgroup|setid", "xinfo|consumers", "xinfo|groups",
        "xinfo|stream", "xlen", "xpending", "xrange", "xread", "xreadgroup", "xrevrange", "xsetid", "xtrim",
    ),
    "keys": (
        "copy", "del", "exists", "expire", "expireat", "expiretime", "keys", "persist", "pexpire",
        "pexpireat", "pexpiretime", "pttl", "rename", "renamenx", "scan", "touch", "ttl", "type", "unlink",
    ),
    "connection": ("echo", "ping", "time"),
}  # fmt: skip
ALLOWED = frozenset(name for names in ALLOWED_COMMANDS.values() for name in names)
# Commands with subcommands; the subcommand decides what is allowed.
CONTAINERS = frozenset(name.split("|")[0] for name in ALLOWED if "|" in name)
# The names to ask COMMAND INFO about; a container's reply includes its subcommands.
_INFO_NAMES = sorted({name.split("|")[0] for name in ALLOWED})

# Commands that reach past a namespace or act on the whole server, with the reason.
_SCRIPTS = gettext_lazy("runs code that can touch any key")
_SERVER = gettext_lazy("acts on the whole Redis server")
_DATABASE = gettext_lazy("reaches another Redis database")
_CONNECTION = gettext_lazy("changes the state of a connection that requests share")
REFUSED: dict[str, object] = {
    **dict.fromkeys(["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "function", "script"], _SCRIPTS),
    **dict.fromkeys(
        ["flushall", "flushdb", "config", "client", "debug", "monitor", "shutdown", "replicaof", "slaveof", "acl",
         "module", "info", "dbsize", "randomkey", "save", "bgsave", "bgrewriteaof", "failover", "cluster",
         "latency", "memory", "slowlog", "lastsave", "role", "sync", "psync", "object", "command"],
        _SERVER,
    ),
    **dict.fromkeys(["select", "swapdb", "move", "migrate"], _DATABASE),
    **dict.fromkeys(["multi", "exec", "discard", "watch", "unwatch", "wait", "waitaof", "reset", "auth", "hello",
                     "quit", "readonly", "readwrite"], _CONNECTION),
    **dict.fromkeys(["subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
                     "publish", "spublish", "pubsub"], gettext_lazy("uses channels that every namespace shares")),
    **dict.fromkeys(["sort", "sort_ro"],
                    gettext_lazy("reads keys that BY and GET patterns name outside the namespace")),
    **dict.fromkeys(["dump", "restore"], gettext_lazy("copies raw values between servers")),
}  # fmt: skip

# Blocking commands and where their timeout argument is, in seconds.
_TIMEOUT_LAST = frozenset(["blpop", "brpop", "bzpopmin", "bzpopmax", "brpoplpush", "blmove"])
_TIMEOUT_FIRST = frozenset(["blmpop", "bzmpop"])

# Commands whose replies contain key names, and where.
_KEY_REPLIES = {
    "keys": "list",
    "scan": "scan",
    **dict.fromkeys(["blpop", "brpop", "bzpopmin", "bzpopmax", "lmpop", "blmpop", "zmpop", "bzmpop"], "first"),
    "xread": "streams",
    "xreadgroup": "streams",
}

_table = CommandTable()


class CommandError(ApiError):
    """A command the compat API rejects before Redis receives it; the message starts with a Redis error code."""

    status_code = 400
    default_code = "invalid_command"


@dataclass
class PreparedCommand:
    """One command, checked and rewritten for the namespace, ready to send."""

    name: str
    args: list[bytes]
    permission: Permission
    prefix: bytes
    # How long the command may block, in milliseconds; None when it does not block.
    block_ms: int | None = None
    # Keys to confirm with COMMAND GETKEYS before running (commands with movable keys).
    verify_key_count: int | None = None


def command_info(client: Redis, name: str) -> CommandInfo | None:
    """Return what Redis reports about an allowed command (``xgroup|create`` for a subcommand)."""
    return _table.get(client, _INFO_NAMES, name)


def with_error_code(code: str, message: str) -> str:
    """Return ``message`` after a Redis error code such as ``ERR``; codes are protocol tokens, never translated."""
    return f"{code} {message}"


def command_error(message: str) -> CommandError:
    return CommandError(with_error_code("ERR", message))


def prepare(client: Redis, namespace: str, args: list[bytes]) -> PreparedCommand:
    """Check one command and rewrite its keys into ``namespace``; raise CommandError if it is not allowed."""
    if not args:
        raise command_error(_("the command is empty."))
    if len(args) - 1 > 2 * settings.REDGX_MAX_ITEMS_PER_REQUEST + 8:
        raise command_error(
            _("the command has %(count)d arguments, the limit is %(limit)d.")
            % {"count": len(args) - 1, "limit": 2 * settings.REDGX_MAX_ITEMS_PER_REQUEST + 8}
        )
    name = _lookup_name(args)
    info = command_info(client, name)
    if info is None or not info.evaluable:
        raise command_error(_("command '%(name)s' is not available on this Redis server.") % {"name": name})
    if not info.arity_ok(len(args)):
        raise command_error(_("wrong number of arguments for '%(name)s' command.") % {"name": name})

    prefix = key_prefix(namespace).encode()
    args = list(args)
    if name == "scan":
        args = _confine_scan(args, prefix)
    elif name == "keys":
        args[1] = prefix + args[1]
    elif name == "copy" and any(arg.lower() == b"db" for arg in args[3:]):
        raise command_error(_("COPY with the DB option is not allowed: it writes to another Redis database."))

    try:
        positions = info.key_positions(args)
    except ValueError as exc:
        raise command_error(
            _("invalid arguments for '%(name)s': %(reason)s.") % {"name": name, "reason": exc}
        ) from None
    for position in positions:
        args[position] = _prefixed_key(prefix, args[position])

    return PreparedCommand(
        name=name,
        args=args,
        permission=Permission.WRITE if info.writes else Permission.READ,
        prefix=prefix,
        block_ms=_block_ms(name, args),
        verify_key_count=len(positions) if info.movable_keys else None,
    )


def _lookup_name(args: list[bytes]) -> str:
    try:
        name = args[0].decode("ascii").lower()
    except UnicodeDecodeError:
        raise command_error(_("unknown command.")) from None
    if name in REFUSED:
        raise command_error(
            _("command '%(name)s' is not allowed through RedGX because it %(reason)s.")
            % {"name": name, "reason": REFUSED[name]}
        )
    if name in CONTAINERS:
        if len(args) < 2:
            raise command_error(_("wrong number of arguments for '%(name)s' command.") % {"name": name})
        name = f"{name}|{args[1].decode('ascii', 'replace').lower()}"
    if name not in ALLOWED:
        raise command_error(
            _("command '%(name)s' is not supported by the RedGX Upstash-compatible API. See docs/upstash.md.")
            % {"name": name.replace("|", " ")}
        )
    return name


def _prefixed_key(prefix: bytes, key: bytes) -> bytes:
    if not key:
        raise command_error(_("the key name must not be empty."))
    if len(key) > settings.REDGX_MAX_KEY_BYTES:
        raise command_error(_("a key name is longer than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_KEY_BYTES})
    return prefix + key


def _confine_scan(args: list[bytes], prefix: bytes) -> list[bytes]:
    """Rebuild SCAN so that its one MATCH pattern starts with the namespace prefix.

    Redis uses the last MATCH it is given, so the options are parsed and written anew
    instead of edited in place.
    """
    pattern, options = b"*", []
    index = 2
    while index < len(args):
        option = args[index].lower()
        if option not in (b"match", b"count", b"type") or index + 1 >= len(args):
            raise command_error(_("syntax error in SCAN options."))
        if option == b"match":
            pattern = args[index + 1]
        else:
            options += [args[index], args[index + 1]]
        index += 2
    return [args[0], args[1], b"MATCH", prefix + pattern, *options]


def _block_ms(name: str, args: list[bytes]) -> int | None:
    """Return how long a blocking command waits, or None; reject waits past REDGX_MAX_BLOCK_MS."""
    if name in _TIMEOUT_LAST:
        waited = _seconds_to_ms(args[-1])
    elif name in _TIMEOUT_FIRST:
        waited = _seconds_to_ms(args[1])
    elif name in ("xread", "xreadgroup"):
        waited = _stream_block_ms(args)
        if waited is None:
            return None
    else:
        return None
    if not 1 <= waited <= settings.REDGX_MAX_BLOCK_MS:
        raise command_error(
            _("the blocking timeout must be between 1 ms and %(limit)d ms; 0 (wait forever) is not allowed.")
            % {"limit": settings.REDGX_MAX_BLOCK_MS}
        )
    return waited


def _seconds_to_ms(raw: bytes) -> int:
    try:
        seconds = float(raw)
    except ValueError:
        raise command_error(_("timeout is not a float or out of range.")) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise command_error(_("timeout is not a float or out of range."))
    return math.ceil(seconds * 1000)


def _stream_block_ms(args: list[bytes]) -> int | None:
    # Options come before STREAMS; XREADGROUP's own options start after GROUP group consumer.
    index = 4 if args[0].lower() == b"xreadgroup" else 1
    while index < len(args) and args[index].lower() != b"streams":
        if args[index].lower() == b"block" and index + 1 < len(args):
            try:
                return int(args[index + 1])
            except ValueError:
                raise command_error(_("timeout is not an integer or out of range.")) from None
        index += 1
    return None


def confirm_keys(client: Redis, command: PreparedCommand) -> None:
    """Confirm with COMMAND GETKEYS that every key Redis will use carries the namespace prefix.

    Only commands with movable keys need this: their keys depend on argument values, and
    GETKEYS runs the command's own key-extraction code on the rewritten arguments.
    """
    if command.verify_key_count is None:
        return
    keys = client.execute_command("COMMAND", "GETKEYS", *command.args)
    if len(keys) != command.verify_key_count or not all(key.startswith(command.prefix) for key in keys):
        logger.warning("Key specs and COMMAND GETKEYS disagree on a %s command; rejected it", command.name)
        raise command_error(_("the keys of this command could not be confined to the namespace."))


def strip_key_names(command: PreparedCommand, reply):
    """Remove the namespace prefix from the key names in a reply."""
    shape = _KEY_REPLIES.get(command.name)
    if shape is None or not isinstance(reply, list):
        return reply
    if shape == "list":
        return [_strip(command.prefix, key) for key in reply]
    if shape == "scan":
        return [reply[0], [_strip(command.prefix, key) for key in reply[1]]]
    if shape == "first":
        return [_strip(command.prefix, reply[0]), *reply[1:]] if reply else reply
    return [[_strip(command.prefix, stream[0]), *stream[1:]] for stream in reply]


def _strip(prefix: bytes, key):
    return key[len(prefix) :] if isinstance(key, bytes) and key.startswith(prefix) else key


def strip_prefix_from_text(prefix: bytes, text: str) -> str:
    """Remove the namespace prefix from a Redis error message that quotes a key."""
    return text.replace(prefix.decode(), "")
