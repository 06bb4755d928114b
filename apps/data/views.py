"""The KV area: Redis strings under /api/v1/ns/{namespace}/kv/{key}."""

import redis.exceptions
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.response import Response

from apps.api.errors import Conflict, InvalidInput, ResourceNotFound
from apps.api.operations import OperationViewSet, operation
from apps.core.redis import data_redis
from apps.tenancy.permissions import Permission

from .keys import namespaced_key
from .serializers import IncrementSerializer, SetValueSerializer
from .values import encode_value

READ, WRITE = Permission.READ, Permission.WRITE

# Redis error texts for increments, mapped to stable codes (Redis 7 wording).
_INCREMENT_ERRORS = {
    "value is not an integer or out of range": ("not_integer", gettext_lazy("The stored value is not an integer.")),
    "increment or decrement would overflow": (
        "overflow",
        gettext_lazy("The increment would overflow a 64-bit integer."),
    ),
    "value is not a valid float": ("not_float", gettext_lazy("The stored value is not a number.")),
    "increment would produce NaN or Infinity": (
        "not_finite",
        gettext_lazy("The increment would produce NaN or infinity."),
    ),
}


class AreaViewSet(OperationViewSet):
    """Base for the data areas: the namespaced Redis key of the request."""

    def redis_key(self) -> str:
        return namespaced_key(self.kwargs["namespace"], self.kwargs["key"])


class KvViewSet(AreaViewSet):
    @operation("GET", "get", READ, default=True)
    def get_value(self, request, namespace: str, key: str) -> Response:
        pipeline = data_redis().pipeline(transaction=False)
        pipeline.get(self.redis_key())
        pipeline.pttl(self.redis_key())
        raw, ttl_ms = pipeline.execute()
        if raw is None:
            raise ResourceNotFound(_("Key '%(key)s' not found.") % {"key": key}, code="key_not_found")
        return Response({"key": key, **encode_value(raw), "ttl_ms": ttl_ms if ttl_ms >= 0 else None})

    @operation("PUT", "set", WRITE, default=True)
    def set_value(self, request, namespace: str, key: str) -> Response:
        redis_key = self.redis_key()
        serializer = SetValueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        args = serializer.validated_data
        written = data_redis().set(
            redis_key, args["value"], ex=args.get("ttl"), px=args.get("ttl_ms"), nx=args["nx"], xx=args["xx"]
        )
        return Response({"key": key, "written": bool(written)})

    @operation("DELETE", "delete", WRITE, default=True)
    def delete_value(self, request, namespace: str, key: str) -> Response:
        return Response({"key": key, "deleted": data_redis().delete(self.redis_key())})

    @operation("POST", "incr", WRITE)
    def increment(self, request, namespace: str, key: str) -> Response:
        return self._add(key, self._increment_by(request))

    @operation("POST", "decr", WRITE)
    def decrement(self, request, namespace: str, key: str) -> Response:
        return self._add(key, -self._increment_by(request))

    def _increment_by(self, request) -> int | float:
        serializer = IncrementSerializer(data=request.data if request.data is not None else {})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["by"]

    def _add(self, key: str, amount: int | float) -> Response:
        redis_key = self.redis_key()
        if isinstance(amount, int) and not -(2**63) <= amount <= 2**63 - 1:
            raise InvalidInput(_("Must fit in a signed 64-bit integer."), code="invalid")
        try:
            if isinstance(amount, float):
                value = float(data_redis().incrbyfloat(redis_key, amount))
            else:
                value = data_redis().incrby(redis_key, amount)
        except redis.exceptions.ResponseError as exc:
            known = next((found for text, found in _INCREMENT_ERRORS.items() if text in str(exc)), None)
            if known is None:
                raise
            raise Conflict(known[1], code=known[0]) from exc
        return Response({"key": key, "value": value})
