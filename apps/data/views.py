"""One viewset per data area, built from the area's registered operations."""

import contextlib
import threading

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.response import Response

from apps.api.errors import ServiceUnavailable
from apps.api.operations import Operation, OperationViewSet, operation
from apps.core.redis import blocking_data_redis, data_redis
from apps.tenancy.permissions import Permission

from .fastpath.validation import validated_data
from .operations import Area, Call, DataOperation, parse_encoding
from .pipeline import PipelineRequest, run_pipeline
from .runner import run_operation

# Arguments of these methods come from the query string, of the others from the JSON body.
QUERY_METHODS = {"GET", "HEAD", "DELETE"}
RESERVED_QUERY_PARAMETERS = {"op", "encoding"}


class DataAreaViewSet(OperationViewSet):
    area: Area

    def run_data_operation(self, request, namespace: str, key: str = "") -> Response:
        operation: DataOperation = self.get_operation().spec
        encoding = parse_encoding(request.query_params.get("encoding"))
        from_query = request.method in QUERY_METHODS
        args = operation.validate(self._arguments(request, from_query), from_query=from_query, encoding=encoding)
        call = Call(namespace=namespace, key=key, args=args, encoding=encoding)
        if operation.blocking:
            return Response(run_blocking_operation(operation, call))
        return Response(run_operation(data_redis(), operation, call))

    @staticmethod
    def _arguments(request, from_query: bool):
        if not from_query:
            return request.data
        arguments = request.query_params.copy()
        for name in RESERVED_QUERY_PARAMETERS:
            arguments.pop(name, None)
        return arguments


_blocking_slots: threading.BoundedSemaphore | None = None
_blocking_slots_lock = threading.Lock()


@contextlib.contextmanager
def blocking_slot():
    """Hold one of this process's REDGX_MAX_BLOCKING_REQUESTS slots for a blocking wait, else raise 503.

    Blocking data reads and inference long-polls share the slots, because both hold a web thread.
    """
    global _blocking_slots
    with _blocking_slots_lock:
        if _blocking_slots is None:
            _blocking_slots = threading.BoundedSemaphore(settings.REDGX_MAX_BLOCKING_REQUESTS)
    if not _blocking_slots.acquire(blocking=False):
        raise ServiceUnavailable(
            _("Too many blocking reads are waiting on this server. Retry later or use a shorter timeout."),
            code="blocking_capacity",
        )
    try:
        yield
    finally:
        _blocking_slots.release()


def run_blocking_operation(operation: DataOperation, call: Call):
    """Run a blocking read if this process has a free slot for one, else raise 503."""
    with blocking_slot():
        return run_operation(blocking_data_redis(), operation, call)


def area_viewset(area: Area, *, collection: bool) -> type[DataAreaViewSet]:
    table = area.collection_operations if collection else area.key_operations
    operations = {
        key: Operation(op.method, op.name, op.permission, "run_data_operation", op.default, spec=op)
        for key, op in table.items()
    }
    name = f"{area.name.title()}{'Collection' if collection else ''}ViewSet"
    viewset = type(name, (DataAreaViewSet,), {"area": area})
    viewset.operations = operations
    viewset.default_operations = {op.method: op for op in operations.values() if op.default}
    return viewset


class PipelineViewSet(OperationViewSet):
    """``POST /api/v1/ns/{namespace}/pipeline``: many area operations in one round trip.

    The request itself needs read permission; each operation is then checked against
    the permission it needs.
    """

    @operation("POST", "run", Permission.READ, default=True)
    def run(self, request, namespace: str) -> Response:
        pipeline = validated_data(PipelineRequest, request.data)
        results = run_pipeline(data_redis(), namespace, request.auth, pipeline["operations"], atomic=pipeline["atomic"])
        return Response({"atomic": pipeline["atomic"], "results": results})
