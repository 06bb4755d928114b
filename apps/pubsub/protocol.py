"""The WebSocket protocol of ``/ws/v1/ns/{namespace}/pubsub``: frames and close codes.

Every frame in both directions is a JSON object with a ``type``. docs/pubsub.md is the
reference for clients; keep it in step with this module.
"""

import base64
import json
from dataclasses import dataclass
from enum import IntEnum

from django.conf import settings
from django.utils.translation import gettext as _

# The subprotocol the server selects when the client offers it. Browsers that offer
# subprotocols fail the handshake unless the server selects one of them.
SUBPROTOCOL = "redgx.v1"
# Browsers pass a ticket as a second offered subprotocol, "redgx.ticket.<ticket>",
# because they cannot set headers on a WebSocket and a URL would end up in logs.
TICKET_SUBPROTOCOL_PREFIX = "redgx.ticket."

# Maximum length, in characters, of a client-chosen request id, which is echoed back.
MAX_REQUEST_ID_LENGTH = 100


class CloseCode(IntEnum):
    """Close codes the consumers send: 1011 from RFC 6455, and codes in its application range 4000-4999."""

    INTERNAL_ERROR = 1011
    NOT_AUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    KEY_REVOKED = 4410
    SLOW_CONSUMER = 4429
    REDIS_UNAVAILABLE = 4503


@dataclass(frozen=True, slots=True)
class Frame:
    """An encoded outgoing frame, shared by every connection that receives it."""

    text: str
    # UTF-8 bytes of text, counted against the connection's send buffer.
    size: int


@dataclass(frozen=True, slots=True)
class ClientRequest:
    type: str
    # Channel names or patterns; None for "all of them" (unsubscribe and punsubscribe only).
    names: list[str] | None
    id: str | int | None


class ProtocolError(Exception):
    """A client frame that the server cannot act on; the server replies with an error frame."""

    def __init__(self, code: str, message: str, request_id: str | int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


# Request type -> (field holding the names, whether the field may be left out for "all").
REQUEST_TYPES = {
    "subscribe": ("channels", False),
    "unsubscribe": ("channels", True),
    "psubscribe": ("patterns", False),
    "punsubscribe": ("patterns", True),
    "ping": (None, True),
}


def encode(body: dict) -> Frame:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Frame(text, len(text.encode()))


def with_id(body: dict, request_id: str | int | None) -> dict:
    if request_id is not None:
        body["id"] = request_id
    return body


def error_frame(code: str, message: str, request_id: str | int | None = None, **extra) -> Frame:
    return encode(with_id({"type": "error", "code": code, "message": str(message), **extra}, request_id))


def message_frame(channel: str, payload: bytes, pattern: str | None = None) -> Frame:
    """Encode a published message: UTF-8 text as is, other bytes as base64."""
    body = {"type": "pmessage", "pattern": pattern} if pattern is not None else {"type": "message"}
    body["channel"] = channel
    try:
        body["data"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        body["data"] = base64.b64encode(payload).decode("ascii")
        body["encoding"] = "base64"
    return encode(body)


def parse_request(text: str | None) -> ClientRequest:
    """Parse one client frame; raise ProtocolError when it is not a valid request."""
    try:
        content = json.loads(text) if text is not None else None
    except ValueError:
        content = None
    if not isinstance(content, dict):
        raise ProtocolError("invalid_frame", _("Each frame must be a JSON object with a 'type'."))

    request_id = content.get("id")
    if not _is_valid_id(request_id):
        raise ProtocolError(
            "invalid_id",
            _("'id' must be a string of at most %(limit)d characters or an integer.")
            % {"limit": MAX_REQUEST_ID_LENGTH},
        )
    request_type = content.get("type")
    if request_type not in REQUEST_TYPES:
        raise ProtocolError(
            "unknown_type",
            _("Unknown frame type. Use one of: %(types)s.") % {"types": ", ".join(REQUEST_TYPES)},
            request_id,
        )

    field, optional = REQUEST_TYPES[request_type]
    if field is None or (optional and field not in content):
        return ClientRequest(request_type, None, request_id)
    return ClientRequest(request_type, _parse_names(content.get(field), field, request_id), request_id)


def _is_valid_id(value) -> bool:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return True
    return isinstance(value, str) and len(value) <= MAX_REQUEST_ID_LENGTH


def _parse_names(value, field: str, request_id) -> list[str]:
    limit = settings.REDGX_PUBSUB_MAX_SUBSCRIPTIONS
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise ProtocolError(
            "invalid_request", _("'%(field)s' must be a non-empty list of strings.") % {"field": field}, request_id
        )
    if len(value) > limit:
        raise ProtocolError(
            "too_many_subscriptions",
            _("'%(field)s' lists more than %(limit)d names.") % {"field": field, "limit": limit},
            request_id,
        )
    # Duplicates are dropped; the first occurrence keeps its place.
    return list(dict.fromkeys(value))
