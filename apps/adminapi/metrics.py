"""The inference broker's metrics: ``GET /api/v1/admin/metrics`` and the snapshot the admin dashboard polls.

A snapshot contains queue depths per task and per namespace and the oldest waiting job's
age. It also contains final job statuses per second per task and per namespace, the
failed share per task, engine batch sizes, rejections per second, and each engine's
circuit state.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.permissions import AdminGrantPermission
from apps.inference import stats
from apps.inference.engines.registry import TASK_PROTOCOLS, engines_for_task

from .inference_state import circuit_snapshot, queue_snapshot
from .metrics_schema import METRICS_RESPONSES

DEFAULT_WINDOW_S = 60


def collect_metrics(window_s: int = DEFAULT_WINDOW_S) -> dict:
    """Read the current metrics, and store the queue depths as this moment's sample for the dashboard's history."""
    queues = {task: queue_snapshot(task) for task in TASK_PROTOCOLS}
    stats.record_queue_depths({task: queue["depth"] for task, queue in queues.items()})

    rates = stats.rates(window_s)
    return {
        "generated_at": datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "window_s": window_s,
        "queues": queues,
        "throughput": rates["tasks"],
        "throughput_by_namespace": rates["namespaces"],
        "failed_ratio": {task: _failed_ratio(by_status) for task, by_status in rates["tasks"].items()},
        "batches": stats.batch_sizes(window_s),
        "rejections": stats.rejections(window_s),
        "engines": [
            {"name": engine.name, "task": task, "protocol": engine.protocol, "circuit": circuit_snapshot(engine.name)}
            for task in TASK_PROTOCOLS
            for engine in engines_for_task(task)
        ],
    }


def _failed_ratio(by_status: dict[str, float]) -> float:
    total = sum(by_status.values())
    return round(by_status.get("failed", 0.0) / total, 4) if total else 0.0


class MetricsQuerySerializer(serializers.Serializer):
    window = serializers.IntegerField(
        min_value=stats.BUCKET_S,
        max_value=settings.REDGX_STATS_RETENTION_S,
        default=DEFAULT_WINDOW_S,
        help_text=_("Seconds of history behind each rate, up to the stats retention."),
    )


class MetricsView(APIView):
    """Return the metrics snapshot to API keys with the admin grant."""

    permission_classes = [AdminGrantPermission]

    @extend_schema(
        operation_id="admin_metrics",
        summary="Inference metrics",
        description="Queue depths, processing rates, batch sizes, rejections and engine circuits. "
        "Needs an API key with the admin grant.",
        tags=["admin"],
        parameters=[MetricsQuerySerializer],
        responses=METRICS_RESPONSES,
    )
    def get(self, request) -> Response:
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(collect_metrics(query.validated_data["window"]))
