"""Group operations on the members of one set."""

from ...operations import Call
from ...values import encode_values
from ..map.common import ScanArguments
from .common import (
    WRITE,
    AddArguments,
    MemberArguments,
    MemberListArguments,
    MoveArguments,
    PopArguments,
    RandomArguments,
    SetOperation,
    area,
    key_not_found,
)


def one_or_many(call: Call, reply) -> dict:
    """Shape SRANDMEMBER and SPOP replies: one ``member`` without ``count``, else a list."""
    if "count" in call.args:
        members, encoding = encode_values(reply, call.encoding)
        return {"key": call.key, "members": members, "encoding": encoding}
    if reply is None:
        raise key_not_found(call)
    (member,), encoding = encode_values([reply], call.encoding)
    return {"key": call.key, "member": member, "encoding": encoding}


@area.register
class Add(SetOperation):
    """``POST /group/{key}`` with ``{"members": [...]}``: SADD; ``added`` counts the new members."""

    name, method, permission, default = "add", "POST", WRITE, True
    serializer_class = AddArguments

    def commands(self, call: Call):
        return [("SADD", call.redis_key, *call.args["members"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "added": replies[0]}


@area.register
class Remove(SetOperation):
    """``DELETE ?op=rem&member=a&member=b``: SREM; ``removed`` counts the members that were there.

    Redis deletes the key together with its last member.
    """

    name, method, permission = "rem", "DELETE", WRITE
    serializer_class = MemberListArguments

    def commands(self, call: Call):
        return [("SREM", call.redis_key, *call.args["member"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "removed": replies[0]}


@area.register
class Members(SetOperation):
    """``GET /group/{key}``: SMEMBERS, in no particular order; an empty list for a missing key.

    NOTE: the whole set comes back in one response however large it is, as with
    ``union``, ``inter`` and ``diff``. Page through big sets with ``scan``.
    """

    name, default = "members", True

    def commands(self, call: Call):
        return [("SMEMBERS", call.redis_key)]

    def result(self, call: Call, replies: list):
        members, encoding = encode_values(replies[0], call.encoding)
        return {"key": call.key, "members": members, "encoding": encoding}


@area.register
class IsMember(SetOperation):
    """``GET ?op=ismember&member=a``: SISMEMBER; false for a missing key."""

    name = "ismember"
    serializer_class = MemberArguments

    def commands(self, call: Call):
        return [("SISMEMBER", call.redis_key, call.args["member"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "ismember": replies[0] == 1}


@area.register
class IsMemberMany(SetOperation):
    """``GET ?op=mismember&member=a&member=b``: SMISMEMBER; ``members`` maps each member to true or false."""

    name = "mismember"
    serializer_class = MemberListArguments

    def commands(self, call: Call):
        return [("SMISMEMBER", call.redis_key, *call.args["member"])]

    def result(self, call: Call, replies: list):
        names, encoding = encode_values(call.args["member"], call.encoding)
        found = {name: flag == 1 for name, flag in zip(names, replies[0], strict=True)}
        return {"key": call.key, "members": found, "encoding": encoding}


@area.register
class Cardinality(SetOperation):
    """``GET ?op=card``: SCARD; 0 for a missing key."""

    name = "card"

    def commands(self, call: Call):
        return [("SCARD", call.redis_key)]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "cardinality": replies[0]}


@area.register
class RandomMembers(SetOperation):
    """``GET ?op=randmember&count=3``: SRANDMEMBER, leaving the set unchanged.

    Without ``count``: one ``member``, or 404 ``key_not_found`` for a missing key. With
    ``count``: a ``members`` list, empty for a missing key. A positive count returns
    distinct members, at most the set's size; a negative count returns exactly that many
    and may repeat members, as in Redis.
    """

    name = "randmember"
    serializer_class = RandomArguments

    def commands(self, call: Call):
        count = (call.args["count"],) if "count" in call.args else ()
        return [("SRANDMEMBER", call.redis_key, *count)]

    def result(self, call: Call, replies: list):
        return one_or_many(call, replies[0])


@area.register
class Pop(SetOperation):
    """``POST ?op=pop`` with ``{"count": 3}``: SPOP, removing random members.

    Without ``count``: one ``member``, or 404 ``key_not_found`` for an empty set. With
    ``count``: a ``members`` list, empty for an empty set.
    """

    name, method, permission = "pop", "POST", WRITE
    serializer_class = PopArguments

    def commands(self, call: Call):
        count = (call.args["count"],) if "count" in call.args else ()
        return [("SPOP", call.redis_key, *count)]

    def result(self, call: Call, replies: list):
        return one_or_many(call, replies[0])


@area.register
class Move(SetOperation):
    """``POST ?op=move`` with ``{"destination", "member"}``: SMOVE to another set of the namespace.

    ``moved`` is false when the member was not in the URL key's set.
    """

    name, method, permission = "move", "POST", WRITE
    serializer_class = MoveArguments

    def keys(self, call: Call) -> list[str]:
        return [call.redis_key, call.other_key(call.args["destination"])]

    def commands(self, call: Call):
        return [("SMOVE", *self.keys(call), call.args["member"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "destination": call.args["destination"], "moved": replies[0] == 1}


@area.register
class Scan(SetOperation):
    """``GET ?op=scan&cursor=0&pattern=a*&count=100``: SSCAN; go on until ``cursor`` is "0".

    ``count`` is a hint: Redis returns a small set whole. A member may come back on more
    than one page.
    """

    name = "scan"
    serializer_class = ScanArguments

    def commands(self, call: Call):
        args = call.args
        return [("SSCAN", call.redis_key, args["cursor"], "MATCH", args["pattern"], "COUNT", args["count"])]

    def result(self, call: Call, replies: list):
        cursor, raws = replies[0]
        members, encoding = encode_values(raws, call.encoding)
        return {"key": call.key, "cursor": cursor.decode(), "members": members, "encoding": encoding}
