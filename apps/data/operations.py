"""Area operations: validated arguments in, Redis commands out, replies shaped into data.

Every operation of a data area is a small class. Splitting "which commands" from "what
the replies mean" lets one request run a single operation and the pipeline endpoint
run many in one round trip with the same code.
"""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.api.errors import InvalidInput
from apps.api.fields import StrictIntegerField, StrictSerializer
from apps.tenancy.permissions import Permission

from .fastpath.validation import validated_data
from .keys import key_prefix, namespaced_key, strip_prefix
from .values import ENCODINGS, encode_values

# A Redis command as its arguments: ("SET", key, value, "PX", 100)
Command = tuple


class NoArguments(StrictSerializer):
    """Accepts an empty object or query string only."""


@dataclass(frozen=True)
class Call:
    """One operation's target and validated arguments."""

    namespace: str
    key: str
    args: dict = field(default_factory=dict)
    encoding: str = "utf-8"

    @cached_property
    def redis_key(self) -> str:
        # Cached because commands() often names the key more than once (GET and PTTL).
        return namespaced_key(self.namespace, self.key)

    def other_key(self, name: str) -> str:
        """Return the Redis key of another key name in the same namespace."""
        return namespaced_key(self.namespace, name)


class DataOperation:
    """Base for one operation of an area.

    Subclasses set the routing attributes and implement ``commands`` and ``result``.
    ``collection`` operations address the area itself (``/kv/``) instead of one key.
    """

    name: ClassVar[str]
    method: ClassVar[str]
    permission: ClassVar[Permission]
    default: ClassVar[bool] = False
    collection: ClassVar[bool] = False
    # Blocking operations hold a connection while they wait, so they cannot join a pipeline.
    blocking: ClassVar[bool] = False
    # The Redis type the operation works on ("string", "hash", ...), for the type check of
    # atomic pipelines. None means any type.
    redis_type: ClassVar[str | None] = None
    serializer_class: ClassVar[type[serializers.Serializer] | None] = None
    # Redis error text fragment -> (code, message), returned as 409.
    error_codes: ClassVar[dict[str, tuple[str, str]]] = {}
    # The same for errors that mean something is missing, returned as 404.
    not_found_codes: ClassVar[dict[str, tuple[str, str]]] = {}

    def validate(self, data: Any, *, from_query: bool, encoding: str) -> dict:
        # Operations without arguments still reject unknown ones, so that a request that
        # forgot its "op" (DELETE /group/team?member=a) fails instead of running the default.
        serializer_class = self.serializer_class or NoArguments
        return validated_data(serializer_class, data, {"from_query": from_query, "encoding": encoding})

    def keys(self, call: Call) -> list[str]:
        """Return every Redis key the operation touches, the one it writes or reads first."""
        return [] if self.collection else [call.redis_key]

    def typed_keys(self, call: Call) -> list[str]:
        """Return the keys that must hold ``redis_type`` (or not exist) for the operation to work.

        Operations that overwrite a key whatever it holds (SET, MSET, the STORE forms for
        their destination) leave those keys out, so atomic pipelines accept what Redis does.
        """
        return self.keys(call)

    def commands(self, call: Call) -> list[Command]:
        raise NotImplementedError

    def result(self, call: Call, replies: list) -> Any:
        """Shape the replies of ``commands`` into response data; replies hold no errors."""
        raise NotImplementedError


class Area:
    """A data area: a name, the Redis type it maps to, and its operations."""

    def __init__(self, name: str, redis_type: str | None):
        self.name = name
        self.redis_type = redis_type
        self.key_operations: dict[tuple[str, str], DataOperation] = {}
        self.collection_operations: dict[tuple[str, str], DataOperation] = {}
        # (collection, name) -> operation, for find(); rebuilt after each add().
        self._by_name: dict[tuple[bool, str], DataOperation] | None = None

    def register(self, operation_class: type[DataOperation]) -> type[DataOperation]:
        self.add(operation_class())
        return operation_class

    def add(self, operation: DataOperation) -> None:
        table = self.collection_operations if operation.collection else self.key_operations
        key = (operation.method, operation.name)
        if key in table:
            raise ValueError(f"{self.name}: {operation.method} {operation.name} registered twice")
        table[key] = operation
        self._by_name = None

    def find(self, name: str, *, collection: bool) -> DataOperation | None:
        """Find an operation by name for the pipeline, whatever its HTTP method.

        If two methods share a name, the operation registered first wins.
        """
        if self._by_name is None:
            by_name = {}
            for is_collection, table in ((False, self.key_operations), (True, self.collection_operations)):
                for (_method, op_name), op in table.items():
                    by_name.setdefault((is_collection, op_name), op)
            self._by_name = by_name
        return self._by_name.get((collection, name))


def parse_encoding(value: str | None) -> str:
    if value is None:
        return "utf-8"
    if value not in ENCODINGS:
        raise InvalidInput(
            _("Unknown encoding '%(value)s'. Use utf-8 or base64.") % {"value": value}, code="invalid_encoding"
        )
    return value


class ListKeysArguments(serializers.Serializer):
    pattern = serializers.CharField(required=False, default="*", allow_blank=False, trim_whitespace=False)
    cursor = serializers.RegexField(r"^\d{1,20}$", required=False, default="0")
    count = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)


class ListKeys(DataOperation):
    """``GET /{area}/?pattern=...&cursor=...``: SCAN limited to the namespace and the area's type.

    The namespace prefix contains no glob characters, so a client pattern can only
    extend it. SCAN may return a page with no keys and a non-zero cursor: go on until
    the cursor is "0". On a Redis Cluster SCAN runs on the node that holds the
    namespace's slot (``routing_key``), which holds every key of the namespace.
    """

    name, method, permission, default, collection = "keys", "GET", Permission.READ, True, True
    serializer_class = ListKeysArguments

    def __init__(self, redis_type: str):
        self.redis_type = redis_type

    def commands(self, call: Call):
        pattern = key_prefix(call.namespace) + call.args["pattern"]
        return [("SCAN", call.args["cursor"], "MATCH", pattern, "COUNT", call.args["count"], "TYPE", self.redis_type)]

    def result(self, call: Call, replies: list):
        cursor, raw_keys = replies[0]
        names, encoding = encode_values([strip_prefix(call.namespace, raw) for raw in raw_keys], call.encoding)
        return {"cursor": cursor.decode(), "keys": names, "encoding": encoding}


class BlockTimeoutField(StrictIntegerField):
    """How long a blocking read may wait, in milliseconds, from 1 to REDGX_MAX_BLOCK_MS.

    Redis reads 0 as "wait forever", which a web request must never do, so 0 is invalid.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("help_text", "milliseconds")
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        value = super().to_internal_value(data)
        if value > settings.REDGX_MAX_BLOCK_MS:
            raise serializers.ValidationError(
                _("Must be at most %(limit)d milliseconds.") % {"limit": settings.REDGX_MAX_BLOCK_MS}
            )
        return value
