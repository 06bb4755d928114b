"""Key arguments of Redis commands, found from the key specs the Redis server reports.

Redis 7 describes each command with ``COMMAND INFO``: its arity, flags and key
specifications ("key specs"). A key spec gives the start of the search for keys: a fixed
index, or the argument after a keyword such as STREAMS. It then gives the rule that finds
the keys from there: a range, or a count stored in an argument such as ZUNIONSTORE's numkeys. Evaluating the
specs here follows Redis's own ``getKeysUsingKeySpecs`` (src/db.c, Redis 7.0).

Commands flagged ``movablekeys`` find their keys from argument values. For them the
rewritten command is also checked with ``COMMAND GETKEYS``, which runs the command's own
key-extraction code, so a spec evaluated differently here cannot let a key through
without the namespace prefix.
"""

import threading
from dataclasses import dataclass

from redis import Redis


@dataclass(frozen=True)
class KeySpec:
    # Start of the search: ("index", position) or ("keyword", keyword, startfrom).
    begin: tuple
    # Rule that finds the keys: ("range", lastkey, keystep, limit) or
    # ("keynum", keynumidx, firstkey, keystep). ("unknown",) for either part means the
    # spec cannot be evaluated; such commands are not allowed.
    find: tuple


@dataclass(frozen=True)
class CommandInfo:
    """Redis's description of one command or subcommand (``xgroup|create``)."""

    name: str
    arity: int
    flags: frozenset[str]
    key_specs: tuple[KeySpec, ...]

    @property
    def writes(self) -> bool:
        return "write" in self.flags

    @property
    def movable_keys(self) -> bool:
        return "movablekeys" in self.flags

    @property
    def evaluable(self) -> bool:
        return all(spec.begin[0] != "unknown" and spec.find[0] != "unknown" for spec in self.key_specs)

    def arity_ok(self, argc: int) -> bool:
        """Check the argument count (command name included) against Redis's arity rule."""
        return argc == self.arity if self.arity >= 0 else argc >= -self.arity

    def key_positions(self, args: list[bytes]) -> list[int]:
        """Return the indexes of ``args`` (``args[0]`` is the command name) that are key names.

        Raises ValueError when a numkeys argument is not a non-negative integer or points
        past the arguments; Redis rejects such commands too.
        """
        positions: list[int] = []
        for spec in self.key_specs:
            positions.extend(_spec_positions(spec, args, self.arity))
        return sorted(set(positions))


def _pairs(flat: list) -> dict[str, object]:
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_spec(raw: list) -> KeySpec:
    fields = _pairs(raw)
    begin_fields = _pairs(fields["begin_search"])
    begin_type = _text(begin_fields["type"])
    begin_spec = _pairs(begin_fields.get("spec") or [])
    if begin_type == "index":
        begin = ("index", int(begin_spec["index"]))
    elif begin_type == "keyword":
        begin = ("keyword", _text(begin_spec["keyword"]).lower(), int(begin_spec["startfrom"]))
    else:
        begin = ("unknown",)

    find_fields = _pairs(fields["find_keys"])
    find_type = _text(find_fields["type"])
    find_spec = _pairs(find_fields.get("spec") or [])
    if find_type == "range":
        find = ("range", int(find_spec["lastkey"]), int(find_spec["keystep"]), int(find_spec["limit"]))
    elif find_type == "keynum":
        find = ("keynum", int(find_spec["keynumidx"]), int(find_spec["firstkey"]), int(find_spec["keystep"]))
    else:
        find = ("unknown",)
    return KeySpec(begin=begin, find=find)


def parse_command_info(raw: list) -> dict[str, CommandInfo]:
    """Parse one ``COMMAND INFO`` entry into infos for the command and each subcommand."""
    name = _text(raw[0]).lower()
    info = CommandInfo(
        name=name,
        arity=int(raw[1]),
        flags=frozenset(_text(flag) for flag in raw[2]),
        key_specs=tuple(_parse_spec(spec) for spec in raw[8]) if len(raw) > 8 else (),
    )
    infos = {name: info}
    if len(raw) > 9:
        for sub in raw[9]:
            infos.update(parse_command_info(sub))
    return infos


def _spec_positions(spec: KeySpec, args: list[bytes], arity: int) -> list[int]:
    argc = len(args)
    if spec.begin[0] == "index":
        first = spec.begin[1]
    else:
        _kind, keyword, startfrom = spec.begin
        first = _find_keyword(args, keyword, startfrom)
        if first is None:
            return []

    if spec.find[0] == "range":
        _kind, lastkey, step, limit = spec.find
        if lastkey >= 0:
            last = first + lastkey
        elif not limit:
            last = argc + lastkey
        else:
            last = first + ((argc - first) // limit + lastkey)
    else:
        _kind, keynumidx, firstkey, step = spec.find
        if keynumidx >= argc - first:
            raise ValueError("numkeys is missing")
        try:
            numkeys = int(args[first + keynumidx])
        except ValueError:
            raise ValueError("numkeys is not an integer") from None
        if numkeys < 0:
            raise ValueError("numkeys is negative")
        first += firstkey
        last = first + numkeys - 1

    positions = []
    for index in range(first, last + 1, max(step, 1)):
        if index >= argc or index < first:
            if arity < 0:
                # Variadic commands check their own arguments later and report the error.
                continue
            raise ValueError("too few arguments for the command's keys")
        positions.append(index)
    return positions


def _find_keyword(args: list[bytes], keyword: str, startfrom: int) -> int | None:
    argc = len(args)
    # Redis stops a forward search before the last argument: a keyword there has no key after it.
    indexes = range(startfrom, argc - 1) if startfrom > 0 else range(argc + startfrom, 0, -1)
    for index in indexes:
        if index >= argc or index < 1:
            break
        if args[index].lower() == keyword.encode():
            return index + 1
    return None


class CommandTable:
    """Process-wide cache of COMMAND INFO for the commands the compat API allows.

    The table is loaded once per process on first use; a server upgrade that changes key
    specs needs a restart of the web processes.
    """

    def __init__(self):
        self._infos: dict[str, CommandInfo] | None = None
        self._lock = threading.Lock()

    def get(self, client: Redis, names: list[str], name: str) -> CommandInfo | None:
        if self._infos is None:
            with self._lock:
                if self._infos is None:
                    self._infos = self._load(client, names)
        return self._infos.get(name)

    @staticmethod
    def _load(client: Redis, names: list[str]) -> dict[str, CommandInfo]:
        infos: dict[str, CommandInfo] = {}
        for raw in client.execute_command("COMMAND", "INFO", *names):
            if raw is not None:
                infos.update(parse_command_info(raw))
        return infos
