"""Idempotent submits: the same ``Idempotency-Key`` and body return the first req_id.

A key is scoped per namespace and API key prefix and stored in the inference Redis as
``redgx:idem:{namespace}:{api key prefix}:{sha256 of the key}``. Its value records a
fingerprint of the request (task, validated payload and deadline) and the req_id.

The first request claims the key with SET NX in the ``pending`` state, so of two
concurrent requests exactly one submits. The claim becomes ``accepted`` with the full TTL
once the job is queued, or is released when the submit fails, so the client can retry
with the same key. A claim left ``pending`` by a crashed process expires after
PENDING_TTL_S.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from redis.commands.core import Script

from apps.api.errors import Conflict, InvalidInput
from apps.core.redis import inference_redis

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
# Visible ASCII (VCHAR in RFC 5234): no spaces or control characters.
_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}\Z")
# Long enough for one submit (validation, admission, enqueue) to finish.
PENDING_TTL_S = 30

PENDING = "pending"
ACCEPTED = "accepted"

# Deletes the claim only if it is still this request's pending claim, so a release after
# the claim expired cannot delete another request's claim.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_release_script: Script | None = None


@dataclass(frozen=True)
class Claim:
    """The stored state of one idempotency key."""

    fingerprint: str
    req_id: str
    state: str

    def dumps(self) -> str:
        return json.dumps({"fingerprint": self.fingerprint, "req_id": self.req_id, "state": self.state})


def parse_key(value: str | None) -> str | None:
    """Return the header's key, None when absent, or raise 400 for a malformed one."""
    if value is None:
        return None
    if not _KEY_PATTERN.match(value):
        raise InvalidInput(
            _("Invalid '%(header)s' header: use 1 to %(limit)d visible ASCII characters without spaces.")
            % {"header": HEADER, "limit": MAX_KEY_LENGTH},
            code="invalid_idempotency_key",
        )
    return value


def fingerprint(task: str, payload: dict, deadline_s: int | None) -> str:
    """Hash a request canonically: the same task, validated payload and deadline give the same hash."""
    canonical = json.dumps(
        {"task": task, "payload": payload, "deadline_s": deadline_s},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def storage_key(namespace: str, key_prefix: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"redgx:idem:{namespace}:{key_prefix}:{digest}"


def claim(storage: str, request_fingerprint: str, req_id: str) -> Claim | None:
    """Claim the key for a new submit; return None if claimed, else the earlier claim.

    Raises 409 ``idempotency_key_reused`` when the earlier claim has another fingerprint,
    and 409 ``idempotency_request_in_progress`` while the first request is still submitting.
    """
    mine = Claim(request_fingerprint, req_id, PENDING)
    if inference_redis().set(storage, mine.dumps(), nx=True, ex=PENDING_TTL_S):
        return None
    raw = inference_redis().get(storage)
    if raw is None:
        # The earlier claim expired between SET and GET: try once more.
        if inference_redis().set(storage, mine.dumps(), nx=True, ex=PENDING_TTL_S):
            return None
        raw = inference_redis().get(storage) or mine.dumps().encode()
    earlier = Claim(**json.loads(raw))
    if earlier.fingerprint != request_fingerprint:
        raise Conflict(
            _("The %(header)s was already used with another request body. Use a new key for a new request.")
            % {"header": HEADER},
            code="idempotency_key_reused",
        )
    if earlier.state != ACCEPTED:
        raise Conflict(
            _("A request with this %(header)s is still being submitted. Retry shortly.") % {"header": HEADER},
            code="idempotency_request_in_progress",
            retry_after=1,
        )
    return earlier


def accept(storage: str, request_fingerprint: str, req_id: str) -> None:
    """Mark this request's claim accepted, so replays return its req_id for REDGX_IDEMPOTENCY_TTL_S."""
    inference_redis().set(
        storage, Claim(request_fingerprint, req_id, ACCEPTED).dumps(), ex=settings.REDGX_IDEMPOTENCY_TTL_S
    )


def release(storage: str, request_fingerprint: str, req_id: str) -> None:
    """Delete this request's pending claim, so that a retry with the same key submits again."""
    global _release_script
    if _release_script is None:
        _release_script = inference_redis().register_script(_RELEASE_SCRIPT)
    _release_script(keys=[storage], args=[Claim(request_fingerprint, req_id, PENDING).dumps()])
