"""Request ids that prove, after their job is gone, that they once existed.

A req_id is 32 lowercase hex characters (128 bits), like a UUID without dashes:

- 12 characters: creation time in milliseconds since the Unix epoch (48 bits),
- 10 characters: random (40 bits), so ids minted in the same millisecond differ,
- 10 characters: an HMAC-SHA256 over namespace, task, time and random part, keyed from
  SECRET_KEY and cut to 40 bits.

After a job hash has expired from the outbox, the signature still shows whether the
gateway minted this id for the namespace and task of the request. If it did, the API
returns 410, else 404, and no tombstone per job is needed. An id of another namespace, or
one made up by a client, matches with a probability of 2**-40.
"""

import hmac
import secrets
import time

from django.conf import settings
from django.utils.crypto import salted_hmac

REQ_ID_LENGTH = 32
_TIME_CHARS = 12
_RANDOM_CHARS = 10
_SIGNATURE_CHARS = 10
_HEX_DIGITS = frozenset("0123456789abcdef")
# Keeps these signatures apart from every other use of SECRET_KEY.
_KEY_SALT = "redgx.inference.reqids"


def new_req_id(namespace: str, task: str, now: float | None = None) -> str:
    """Mint a req_id for a job of ``task`` in ``namespace``, created at ``now`` (Unix seconds)."""
    created_ms = int((time.time() if now is None else now) * 1000)
    body = f"{created_ms:0{_TIME_CHARS}x}{secrets.token_hex(_RANDOM_CHARS // 2)}"
    return body + _signature(namespace, task, body)


def is_well_formed(text: str) -> bool:
    """True for 32 lowercase hex characters, whether or not the signature is valid."""
    return len(text) == REQ_ID_LENGTH and all(c in _HEX_DIGITS for c in text)


def was_issued_for(req_id: str, namespace: str, task: str) -> bool:
    """True when the signature shows this gateway minted ``req_id`` for this namespace and task."""
    if not is_well_formed(req_id):
        return False
    body, signature = req_id[:-_SIGNATURE_CHARS], req_id[-_SIGNATURE_CHARS:]
    # Ids minted before a key rotation still verify while the old key is in SECRET_KEY_FALLBACKS.
    secrets_to_try = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(hmac.compare_digest(signature, _signature(namespace, task, body, secret)) for secret in secrets_to_try)


def created_at(req_id: str) -> float:
    """Return the creation time (Unix seconds) encoded in a well-formed req_id."""
    return int(req_id[:_TIME_CHARS], 16) / 1000


def _signature(namespace: str, task: str, body: str, secret: str | None = None) -> str:
    # NUL cannot occur in a namespace or task name, so the fields cannot run into each other.
    message = f"{namespace}\0{task}\0{body}"
    return salted_hmac(_KEY_SALT, message, secret=secret, algorithm="sha256").hexdigest()[:_SIGNATURE_CHARS]
