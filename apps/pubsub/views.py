"""REST routes of pub/sub: publishing, and tickets for browser WebSockets."""

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from apps.api.errors import InvalidInput
from apps.api.operations import OperationViewSet, operation
from apps.core.redis import publish_data_message
from apps.data.operations import parse_encoding
from apps.tenancy.permissions import Permission

from . import names
from .protocol import SUBPROTOCOL, TICKET_SUBPROTOCOL_PREFIX
from .serializers import PublishRequest
from .tickets import issue_ticket


class PublishViewSet(OperationViewSet):
    """``POST /api/v1/ns/{namespace}/pubsub/{channel}``: publish one message."""

    @operation("POST", "publish", Permission.WRITE, default=True)
    def publish(self, request, namespace: str, channel: str) -> Response:
        if names.is_reserved(channel):
            raise PermissionDenied(
                _("Channel names starting with '%(prefix)s' are reserved for the gateway.")
                % {"prefix": names.RESERVED_PREFIX},
                code="reserved_channel",
            )
        try:
            redis_channel = names.redis_channel(namespace, channel)
        except names.InvalidName as error:
            raise InvalidInput(error.message, code=error.code) from error

        encoding = parse_encoding(request.query_params.get("encoding"))
        serializer = PublishRequest(data=request.data, context={"encoding": encoding})
        serializer.is_valid(raise_exception=True)
        payload = serializer.validated_data["data"]
        # PUBLISH returns the number of Redis connections that received the message: each
        # WebSocket server process counts once per matching channel or pattern, however many
        # of its clients subscribe, and so does each other Redis subscriber.
        receivers = publish_data_message(redis_channel, payload)
        return Response({"channel": channel, "receivers": receivers, "size": len(payload)})


class TicketViewSet(OperationViewSet):
    """``POST /api/v1/ns/{namespace}/ws-tickets``: a single-use ticket for one WebSocket."""

    @operation("POST", "issue", Permission.READ, default=True)
    def issue(self, request, namespace: str) -> Response:
        ticket = issue_ticket(request.auth, namespace)
        body = {
            "ticket": ticket,
            "expires_in_s": settings.REDGX_WS_TICKET_TTL_S,
            "path": f"/ws/v1/ns/{namespace}/pubsub",
            "subprotocols": [SUBPROTOCOL, TICKET_SUBPROTOCOL_PREFIX + ticket],
        }
        # The ticket is a credential until it is used, so no cache may keep the response.
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})
