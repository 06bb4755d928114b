"""Group operations across sets: union, intersection, difference and their STORE forms.

Other keys are names in the same namespace, given as ``key`` (repeated in a query
string, a list in a body). A missing key counts as an empty set, as in Redis.
"""

from ...operations import Call
from ...values import encode_values
from .common import WRITE, InterCardArguments, OtherKeysArguments, SetOperation, StoreArguments, area


def url_key_and_others(call: Call) -> list[str]:
    """Return the Redis keys of the URL key and then of the ``key`` arguments."""
    return [call.redis_key, *(call.other_key(name) for name in call.args["key"])]


class _Combine(SetOperation):
    """``GET ?op=union&key=b&key=c``: the URL key first, then the ``key`` arguments."""

    serializer_class = OtherKeysArguments
    command: str

    def keys(self, call: Call) -> list[str]:
        return url_key_and_others(call)

    def commands(self, call: Call):
        return [(self.command, *self.keys(call))]

    def result(self, call: Call, replies: list):
        members, encoding = encode_values(replies[0], call.encoding)
        return {"key": call.key, "members": members, "encoding": encoding}


@area.register
class Union(_Combine):
    """``GET ?op=union&key=b``: SUNION."""

    name, command = "union", "SUNION"


@area.register
class Intersection(_Combine):
    """``GET ?op=inter&key=b``: SINTER; empty when any key is missing."""

    name, command = "inter", "SINTER"


@area.register
class Difference(_Combine):
    """``GET ?op=diff&key=b``: SDIFF, the URL key's members that no other key has."""

    name, command = "diff", "SDIFF"


class _Store(SetOperation):
    """``POST ?op=unionstore`` with ``{"key": [...]}``: the result replaces the URL key.

    As in Redis, the URL key is replaced whatever type it held, and an empty result
    deletes it. ``cardinality`` is the size of the stored set.
    """

    method, permission = "POST", WRITE
    serializer_class = StoreArguments
    command: str

    def keys(self, call: Call) -> list[str]:
        return url_key_and_others(call)

    def typed_keys(self, call: Call) -> list[str]:
        # The destination is replaced whatever it holds; only the sources must be sets.
        return self.keys(call)[1:]

    def commands(self, call: Call):
        return [(self.command, *self.keys(call))]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "cardinality": replies[0]}


@area.register
class UnionStore(_Store):
    """``POST ?op=unionstore``: SUNIONSTORE into the URL key."""

    name, command = "unionstore", "SUNIONSTORE"


@area.register
class IntersectionStore(_Store):
    """``POST ?op=interstore``: SINTERSTORE into the URL key."""

    name, command = "interstore", "SINTERSTORE"


@area.register
class DifferenceStore(_Store):
    """``POST ?op=diffstore``: SDIFFSTORE into the URL key; the first source is the one subtracted from."""

    name, command = "diffstore", "SDIFFSTORE"


@area.register
class IntersectionCardinality(SetOperation):
    """``GET ?op=intercard&key=b&limit=10``: SINTERCARD, counting up to ``limit`` (0: no limit)."""

    name = "intercard"
    serializer_class = InterCardArguments

    def keys(self, call: Call) -> list[str]:
        return url_key_and_others(call)

    def commands(self, call: Call):
        keys = self.keys(call)
        return [("SINTERCARD", len(keys), *keys, "LIMIT", call.args["limit"])]

    def result(self, call: Call, replies: list):
        return {"key": call.key, "cardinality": replies[0]}
