"""WebSocket consumers: ``/ws/v1/ns/{namespace}/pubsub`` and a fallback for other paths."""

import asyncio
import logging
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from django.utils.translation import gettext as _

from apps.access.buffer import record_access
from apps.access.models import Transport
from apps.api.clientaddress import scope_client_address
from apps.tenancy.keycache import ResolvedKey
from apps.tenancy.permissions import Permission

from . import names
from .auth import HandshakeRejected, address_allowed, authenticate, inference_client
from .clients import get_registry
from .hub import CHANNEL, PATTERN, get_hub
from .keywatch import get_key_watcher
from .outbox import CloseRequest, Outbox
from .protocol import (
    SUBPROTOCOL,
    ClientRequest,
    CloseCode,
    Frame,
    ProtocolError,
    encode,
    error_frame,
    parse_request,
    with_id,
)
from .redis_pubsub import REDIS_ERRORS

logger = logging.getLogger(__name__)

# How long a new connection waits for the hub to reach Redis before it is closed with 4503.
ATTACH_TIMEOUT_S = 5.0


def _selected_subprotocol(scope: dict) -> str | None:
    return SUBPROTOCOL if SUBPROTOCOL in scope.get("subprotocols", []) else None


class PubSubConsumer(AsyncWebsocketConsumer):
    """One client's subscriptions to channels and patterns of one namespace.

    Every frame to the client goes through the connection's bounded outbox and a sender
    task, so the hub never waits for a client, and acknowledgements stay in order with
    messages.
    """

    # Messages come from the hub's Redis connection, not from a channel layer, so the
    # consumer does not open a layer channel of its own.
    channel_layer_alias = None

    async def connect(self) -> None:
        self.namespace: str = self.scope["url_route"]["kwargs"]["namespace"]
        self.key: ResolvedKey | None = None
        # Client names, without the namespace prefix.
        self.channels: set[str] = set()
        self.patterns: set[str] = set()
        self.outbox = Outbox(settings.REDGX_PUBSUB_SEND_BUFFER_FRAMES, settings.REDGX_PUBSUB_SEND_BUFFER_BYTES)
        self.sender: asyncio.Task | None = None
        self.hub = None
        self.left = False
        self.leaving: asyncio.Task | None = None
        self.started = time.monotonic()
        self.client_address = scope_client_address(self.scope)
        self.access_recorded = False
        self.registry_id: str | None = None

        try:
            self.key = await authenticate(self.scope, self.namespace)
        except HandshakeRejected as rejection:
            await self._reject(rejection.close_code, rejection.code, rejection.message, rejection.key_prefix)
            return
        except REDIS_ERRORS as exc:
            logger.warning("WebSocket authentication failed, the inference Redis is unavailable: %s", exc)
            await self._reject_redis_unavailable()
            return
        except DatabaseError as exc:
            # Only keys this process has not resolved before need the database, as over REST (503).
            logger.warning("WebSocket authentication failed, the database is unavailable: %s", exc)
            await self._reject(
                CloseCode.REDIS_UNAVAILABLE, "database_unavailable", _("The database is unavailable. Retry later.")
            )
            return
        except Exception:
            logger.exception("WebSocket authentication failed in namespace %s", self.namespace)
            await self._reject(CloseCode.INTERNAL_ERROR, "server_error", _("Internal server error."))
            return

        hub = get_hub()
        if not await hub.attach(self, ATTACH_TIMEOUT_S):
            await self._reject_redis_unavailable()
            return
        self.hub = hub
        get_key_watcher().watch(self.key.digest, self)
        await self.accept(_selected_subprotocol(self.scope))
        self.registry_id = await get_registry(inference_client()).add(
            key_prefix=self.key.prefix, namespace=self.namespace, address=self.client_address
        )
        self.sender = asyncio.get_running_loop().create_task(self._send_frames())
        self._queue(
            encode(
                {
                    "type": "connected",
                    "namespace": self.namespace,
                    "max_subscriptions": settings.REDGX_PUBSUB_MAX_SUBSCRIPTIONS,
                    "max_message_bytes": settings.REDGX_PUBSUB_MAX_MESSAGE_BYTES,
                }
            )
        )

    async def _reject(self, close_code: int, code: str, message: str, key_prefix: str = "") -> None:
        self._record_access(close_code, key_prefix)
        # A close before the handshake completes reaches the client as HTTP 403 without a code,
        # so the handshake is accepted first and then closed with the documented code.
        await self.accept(_selected_subprotocol(self.scope))
        await self.send(text_data=error_frame(code, message).text)
        await self.close(code=close_code, reason=code)

    async def _reject_redis_unavailable(self) -> None:
        await self._reject(CloseCode.REDIS_UNAVAILABLE, "redis_unavailable", _("Redis is unavailable. Retry later."))

    async def disconnect(self, code: int) -> None:
        if self.sender is not None:
            self.sender.cancel()
        self._record_access(code, self.key.prefix if self.key is not None else "")
        if self.registry_id is not None:
            await get_registry(inference_client()).remove(self.registry_id)
            self.registry_id = None
        await self._leave()

    def _record_access(self, status: int, key_prefix: str) -> None:
        """Record the connection once: at its rejection, or when it closes with its close code."""
        if self.access_recorded:
            return
        self.access_recorded = True
        record_access(
            transport=Transport.WEBSOCKET,
            status=status,
            started=self.started,
            client_address=self.client_address,
            key_prefix=key_prefix,
            namespace=self.namespace,
            area="pubsub",
            action="connect",
        )

    async def _leave(self) -> None:
        """Drop every subscription and stop watching the key; safe to call more than once."""
        if self.left or self.hub is None:
            return
        self.left = True
        get_key_watcher().unwatch(self.key.digest, self)
        channels, patterns = self._redis_names(CHANNEL, self.channels), self._redis_names(PATTERN, self.patterns)
        self.channels, self.patterns = set(), set()
        await self.hub.detach(self, channels, patterns)

    # Frames to the client -----------------------------------------------------------------

    async def _send_frames(self) -> None:
        try:
            while True:
                item = await self.outbox.get()
                if isinstance(item, CloseRequest):
                    await self.close(code=item.code, reason=item.reason)
                    return
                await self.send(text_data=item.text)
        except OSError:
            pass  # the client is gone; the server reports websocket.disconnect next

    def _queue(self, frame: Frame) -> None:
        if not self.outbox.put(frame) and not self.outbox.closing:
            logger.info(
                "Closing a WebSocket of key %s in namespace %s: more than %d frames or %d bytes waiting",
                self.key.prefix,
                self.namespace,
                self.outbox.max_frames,
                self.outbox.max_bytes,
            )
            self._close(CloseCode.SLOW_CONSUMER, "slow_consumer")

    def _close(self, code: int, reason: str) -> None:
        """Close after the frame being sent, dropping the frames still waiting."""
        self.outbox.close(code, reason)
        # Leaving the hub at once stops further deliveries and frees the Redis subscriptions,
        # even while a client that stopped reading keeps the close frame from going out.
        # The reference keeps the task from being garbage-collected before it runs.
        self.leaving = asyncio.get_running_loop().create_task(self._leave())

    # Hub callbacks -----------------------------------------------------------------------

    def deliver(self, frame: Frame) -> None:
        self._queue(frame)

    def redis_interrupted(self) -> None:
        message = _("The connection to Redis was lost. Subscriptions resume when it is back.")
        self._queue(encode({"type": "interrupted", "code": "redis_unavailable", "message": message}))

    def redis_resumed(self) -> None:
        message = _("The connection to Redis is back. Messages published while it was lost were not delivered.")
        self._queue(encode({"type": "resumed", "message": message}))

    def redis_lost(self) -> None:
        self._close(CloseCode.REDIS_UNAVAILABLE, "redis_unavailable")

    # Key watcher callbacks ----------------------------------------------------------------

    def key_changed(self, key: ResolvedKey | None) -> None:
        if key is None or key.revoked:
            self._close(CloseCode.KEY_REVOKED, "key_revoked")
        elif not key.allows(self.namespace, Permission.READ):
            self._close(CloseCode.FORBIDDEN, "permission_denied")
        elif not address_allowed(key, self.namespace, self.client_address):
            self._close(CloseCode.FORBIDDEN, "address_forbidden")
        else:
            self.key = key

    def check_expiry(self, now: float) -> None:
        if self.key.is_expired(now):
            self._close(CloseCode.KEY_REVOKED, "key_expired")

    # Frames from the client ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.outbox.closing:
            return
        try:
            request = parse_request(text_data)
            await getattr(self, f"_handle_{request.type}")(request)
        except ProtocolError as error:
            self._queue(error_frame(error.code, error.message, error.request_id))

    async def _handle_ping(self, request: ClientRequest) -> None:
        self._queue(encode(with_id({"type": "pong"}, request.id)))

    async def _handle_subscribe(self, request: ClientRequest) -> None:
        await self._subscribe(CHANNEL, self.channels, request, "subscribed", "channels")

    async def _handle_psubscribe(self, request: ClientRequest) -> None:
        await self._subscribe(PATTERN, self.patterns, request, "psubscribed", "patterns")

    async def _handle_unsubscribe(self, request: ClientRequest) -> None:
        await self._unsubscribe(CHANNEL, self.channels, request, "unsubscribed", "channels")

    async def _handle_punsubscribe(self, request: ClientRequest) -> None:
        await self._unsubscribe(PATTERN, self.patterns, request, "punsubscribed", "patterns")

    async def _subscribe(self, kind: str, current: set[str], request: ClientRequest, ack: str, field: str) -> None:
        redis_names = self._redis_names(kind, request.names, request.id)
        new = [name for name in request.names if name not in current]
        limit = settings.REDGX_PUBSUB_MAX_SUBSCRIPTIONS
        if len(self.channels) + len(self.patterns) + len(new) > limit:
            raise ProtocolError(
                "too_many_subscriptions",
                _("A connection may hold at most %(limit)d channels and patterns.") % {"limit": limit},
                request.id,
            )
        current.update(new)
        confirmed = await self.hub.subscribe(self, kind, redis_names)
        if self.left:
            # The connection closed while this request waited, and _leave may have run before
            # the hub added these names, so they are removed here.
            await self.hub.unsubscribe(self, kind, redis_names)
            return
        if not confirmed:
            raise ProtocolError(
                "redis_unavailable",
                _("Redis did not confirm the subscription in time. It takes effect once Redis is reachable."),
                request.id,
            )
        self._queue(encode(with_id({"type": ack, field: request.names, "subscriptions": self._count()}, request.id)))

    async def _unsubscribe(self, kind: str, current: set[str], request: ClientRequest, ack: str, field: str) -> None:
        requested = sorted(current) if request.names is None else request.names
        redis_names = self._redis_names(kind, requested, request.id)
        current.difference_update(requested)
        await self.hub.unsubscribe(self, kind, redis_names)
        self._queue(encode(with_id({"type": ack, field: requested, "subscriptions": self._count()}, request.id)))

    def _redis_names(self, kind: str, client_names, request_id=None) -> list[str]:
        to_redis = names.redis_channel if kind == CHANNEL else names.redis_pattern
        try:
            return [to_redis(self.namespace, name) for name in client_names]
        except names.InvalidName as error:
            raise ProtocolError(error.code, error.message, request_id) from error

    def _count(self) -> int:
        return len(self.channels) + len(self.patterns)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Closes connections to unknown paths with 4404 instead of failing the handshake."""

    channel_layer_alias = None

    async def connect(self) -> None:
        await self.accept(_selected_subprotocol(self.scope))
        await self.send(text_data=error_frame("route_not_found", _("No WebSocket route matches this path.")).text)
        await self.close(code=CloseCode.NOT_FOUND, reason="route_not_found")
