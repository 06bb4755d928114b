"""Single-use tickets that open a WebSocket without sending the API key.

Browsers cannot set headers on a WebSocket. A client asks for a ticket over REST, where the
key travels in the X-API-Key header, and passes the ticket as a WebSocket subprotocol, so
neither the key nor the ticket appears in a URL. A ticket is 256 random bits and works for
one namespace, once, within REDGX_WS_TICKET_TTL_S. The inference Redis, which contains the
gateway's other control data, stores only the ticket's SHA-256 digest.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass

import redis.asyncio
from django.conf import settings

from apps.core.redis import inference_redis
from apps.tenancy.keycache import ResolvedKey

# Tickets from issue_ticket are 43 characters. Longer text is rejected before hashing.
MAX_TICKET_LENGTH = 64


@dataclass(frozen=True)
class Ticket:
    key_digest: str
    namespace: str


def _redis_key(ticket: str) -> str:
    return f"redgx:wsticket:{hashlib.sha256(ticket.encode()).hexdigest()}"


def issue_ticket(key: ResolvedKey, namespace: str) -> str:
    ticket = secrets.token_urlsafe(32)
    value = json.dumps({"key_digest": key.digest, "namespace": namespace})
    inference_redis().set(_redis_key(ticket), value, ex=settings.REDGX_WS_TICKET_TTL_S)
    return ticket


async def redeem_ticket(client: redis.asyncio.Redis, ticket: str) -> Ticket | None:
    """Return the ticket's key and namespace and delete it; None if it is unknown, used or expired."""
    if len(ticket) > MAX_TICKET_LENGTH:
        return None
    # GET and DEL in one transaction: of two connections racing with the same ticket, one wins.
    async with client.pipeline(transaction=True) as pipeline:
        pipeline.get(_redis_key(ticket))
        pipeline.delete(_redis_key(ticket))
        value, _deleted = await pipeline.execute()
    if value is None:
        return None
    fields = json.loads(value)
    return Ticket(key_digest=fields["key_digest"], namespace=fields["namespace"])
