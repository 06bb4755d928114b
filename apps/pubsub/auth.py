"""Authentication of a WebSocket handshake: the X-API-Key header, or a ticket subprotocol."""

import asyncio
import time

import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.translation import gettext as _

from apps.api.clientaddress import address_in_networks, scope_client_address
from apps.tenancy.keycache import ResolvedKey, load_key, record_key_usage, resolve_key
from apps.tenancy.keys import MAX_PLAIN_KEY_LENGTH
from apps.tenancy.permissions import Permission

from .protocol import TICKET_SUBPROTOCOL_PREFIX, CloseCode
from .tickets import redeem_ticket


class HandshakeRejected(Exception):
    """A handshake that is closed right after it opens, with ``close_code`` and an error ``code``.

    ``key_prefix`` names the key when it was resolved before the rejection, for the access history.
    """

    def __init__(self, close_code: CloseCode, code: str, message: str):
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message
        self.key_prefix = ""


async def authenticate(scope: dict, namespace: str) -> ResolvedKey:
    """Return the key that may read ``namespace`` over this connection; raise HandshakeRejected otherwise."""
    plain_key = _header(scope, b"x-api-key")
    ticket = _ticket(scope)
    if plain_key:
        key = await _key_from_header(plain_key)
    elif ticket is not None:
        key = await _key_from_ticket(ticket, namespace)
    else:
        raise HandshakeRejected(
            CloseCode.NOT_AUTHENTICATED,
            "not_authenticated",
            _("Send the X-API-Key header, or a ticket as the subprotocol 'redgx.ticket.<ticket>'."),
        )
    address = scope_client_address(scope)
    try:
        _check_usable(key)
        _check_grant(key, namespace)
        _check_address(key, namespace, address)
    except HandshakeRejected as rejection:
        rejection.key_prefix = key.prefix
        raise
    record_key_usage(key.id, address)
    return key


def _header(scope: dict, name: bytes) -> str:
    for header, value in scope.get("headers", []):
        if header.lower() == name:
            return value.decode("latin-1").strip()
    return ""


def _ticket(scope: dict) -> str | None:
    for subprotocol in scope.get("subprotocols", []):
        if subprotocol.startswith(TICKET_SUBPROTOCOL_PREFIX):
            return subprotocol[len(TICKET_SUBPROTOCOL_PREFIX) :]
    return None


async def _key_from_header(plain_key: str) -> ResolvedKey:
    key = None
    if len(plain_key) <= MAX_PLAIN_KEY_LENGTH:
        key = await database_sync_to_async(resolve_key)(plain_key)
    if key is None:
        raise HandshakeRejected(CloseCode.NOT_AUTHENTICATED, "authentication_failed", _("Unknown API key."))
    return key


async def _key_from_ticket(text: str, namespace: str) -> ResolvedKey:
    ticket = await redeem_ticket(inference_client(), text)
    if ticket is None:
        raise HandshakeRejected(
            CloseCode.NOT_AUTHENTICATED,
            "invalid_ticket",
            _("The ticket is unknown, expired or already used. Request a new one."),
        )
    if ticket.namespace != namespace:
        raise HandshakeRejected(
            CloseCode.FORBIDDEN,
            "ticket_namespace_mismatch",
            _("The ticket was issued for namespace '%(namespace)s'.") % {"namespace": ticket.namespace},
        )
    key = await database_sync_to_async(load_key)(ticket.key_digest)
    if key is None:
        raise HandshakeRejected(CloseCode.NOT_AUTHENTICATED, "authentication_failed", _("Unknown API key."))
    return key


def _check_usable(key: ResolvedKey) -> None:
    if key.revoked:
        raise HandshakeRejected(CloseCode.NOT_AUTHENTICATED, "key_revoked", _("This API key has been revoked."))
    if key.is_expired(time.time()):
        raise HandshakeRejected(CloseCode.NOT_AUTHENTICATED, "key_expired", _("This API key has expired."))


def _check_grant(key: ResolvedKey, namespace: str) -> None:
    if namespace not in key.grants:
        raise HandshakeRejected(
            CloseCode.FORBIDDEN,
            "namespace_forbidden",
            _("This API key has no access to namespace '%(namespace)s'.") % {"namespace": namespace},
        )
    if not key.allows(namespace, Permission.READ):
        raise HandshakeRejected(
            CloseCode.FORBIDDEN,
            "permission_denied",
            _("This API key has no read permission in namespace '%(namespace)s'.") % {"namespace": namespace},
        )


def address_allowed(key: ResolvedKey, namespace: str, address: str) -> bool:
    """True when ``address`` is in the key's allowlist and in the namespace's, where they have entries."""
    return address_in_networks(address, key.networks) and address_in_networks(
        address, key.namespace_networks.get(namespace, ())
    )


def _check_address(key: ResolvedKey, namespace: str, address: str) -> None:
    if not address_allowed(key, namespace, address):
        raise HandshakeRejected(
            CloseCode.FORBIDDEN,
            "address_forbidden",
            _("Requests from address %(address)s are not allowed for this API key or namespace.")
            % {"address": address},
        )


_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}


def inference_client() -> redis.asyncio.Redis:
    """Return this event loop's client of the inference Redis."""
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        _clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDGX_INFERENCE_REDIS_URL,
            socket_connect_timeout=2.0,
            socket_timeout=settings.REDGX_REDIS_SOCKET_TIMEOUT_S,
        )
    return _clients[loop]
