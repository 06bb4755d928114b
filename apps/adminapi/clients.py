"""``GET /api/v1/admin/clients``: connected WebSocket clients and the keys seen recently.

Connected clients come from the registry each ASGI process keeps in the inference Redis
(apps.pubsub.clients). Keys seen recently come from the access history, which already
contains every REST request and WebSocket connection with its key prefix and address, so
the request path pays for no extra Redis write. The cost is lag: a request appears once
its process flushes, within REDGX_ACCESS_FLUSH_S.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Subquery
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.access.models import AccessRecord
from apps.pubsub.clients import list_connected_clients

from .views import TAGS, AdminApiView

MAX_RECENT_KEYS = 1000


def recent_keys(window_s: int) -> list[dict]:
    """Return the keys with access rows in the last ``window_s`` seconds, most recent first."""
    since = timezone.now() - timedelta(seconds=window_s)
    recent = AccessRecord.objects.filter(time__gte=since).exclude(key_prefix="")
    latest_address = recent.filter(key_prefix=OuterRef("key_prefix")).order_by("-time").values("client_address")[:1]
    rows = (
        recent.values("key_prefix")
        .annotate(requests=Count("id"), last_seen=Max("time"), client_address=Subquery(latest_address))
        .order_by("-last_seen")[:MAX_RECENT_KEYS]
    )
    return [
        {
            "key_prefix": row["key_prefix"],
            "last_seen": row["last_seen"].isoformat(),
            "client_address": row["client_address"],
            "requests": row["requests"],
            "requests_per_minute": round(row["requests"] * 60 / window_s, 2),
        }
        for row in rows
    ]


class ConnectedClientSerializer(serializers.Serializer):
    key_prefix = serializers.CharField()
    namespace = serializers.CharField()
    client_address = serializers.CharField()
    connected_since = serializers.DateTimeField()


class RecentKeySerializer(serializers.Serializer):
    key_prefix = serializers.CharField()
    last_seen = serializers.DateTimeField()
    client_address = serializers.CharField(allow_null=True, help_text="The address of the key's latest request.")
    requests = serializers.IntegerField(help_text="REST requests and WebSocket connections in the window.")
    requests_per_minute = serializers.FloatField(help_text="Requests per minute, averaged over the window.")


class ClientsSerializer(serializers.Serializer):
    connected = ConnectedClientSerializer(many=True)
    recent_keys = RecentKeySerializer(many=True)
    recent_window_s = serializers.IntegerField(help_text="Window of recent_keys in seconds (REDGX_CLIENTS_RECENT_S).")


class ClientsView(AdminApiView):
    @extend_schema(operation_id="admin_clients_retrieve", tags=TAGS, responses=ClientsSerializer)
    def get(self, request) -> Response:
        window_s = settings.REDGX_CLIENTS_RECENT_S
        connected = list_connected_clients()
        for connection in connected:
            connection["connected_since"] = datetime.fromtimestamp(connection["connected_since"], tz=UTC).isoformat()
        return Response(
            {
                "connected": connected,
                "recent_keys": recent_keys(window_s),
                "recent_window_s": window_s,
            }
        )
