"""The one HTTP layer for engine calls: explicit timeouts, no redirects, one error type.

Every request carries a fresh ``X-Request-Id``, so a retried call never reuses the id of
an earlier attempt and an engine's logs tell the attempts apart.

Status mapping, shared by every protocol:
- 400 and 422: the input is bad, so the error is permanent. Its code is the engine's
  ``error_type`` when that is in KNOWN_REJECTION_CODES, else the client's ``rejected_code``.
- 413: permanent, ``input_too_long`` or the client's ``too_large_code``.
- 408, 424, 429 and 5xx, timeouts and connection errors: transient.
- Any other status (404 for an unknown model or path, 401, 405): permanent
  ``engine_rejected``, because retrying the same request cannot change the answer.
"""

import logging
import threading
import uuid
from typing import Any

import httpx
from django.utils.translation import gettext_noop

from .errors import EngineError

logger = logging.getLogger(__name__)

# Engine error text is passed to clients; this keeps a long traceback or HTML page out.
MAX_ERROR_TEXT = 500
DEFAULT_CONNECT_TIMEOUT_S = 5.0
REQUEST_ID_HEADER = "X-Request-Id"

# error_type values an engine may send with 400/422 that become the job's error code.
KNOWN_REJECTION_CODES = frozenset(
    {"unsupported_pair", "unsupported_language", "bad_document", "bad_audio", "input_too_long", "input_rejected"}
)
# Phrases with which OpenAI-compatible servers (vLLM, llama.cpp) reject an over-long prompt with 400.
_CONTEXT_LENGTH_PHRASES = ("maximum context length", "context length", "exceed_context_size")

_clients: dict[tuple[str, float, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def client_for(base_url: str, timeout_s: float, connect_timeout_s: float | None = None) -> httpx.Client:
    """Return a pooled client per engine and timeouts, shared by the threads of this process.

    ``timeout_s`` bounds each read (and write) of a call; ``connect_timeout_s`` bounds the
    TCP connect and the wait for a pooled connection. It defaults to the smaller of 5 s and
    ``timeout_s``.
    """
    if connect_timeout_s is None:
        connect_timeout_s = min(DEFAULT_CONNECT_TIMEOUT_S, timeout_s)
    key = (base_url, timeout_s, connect_timeout_s)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = httpx.Client(
                base_url=base_url,
                timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
                headers={"User-Agent": "redgx-worker"},
            )
        return _clients[key]


def new_request_id() -> str:
    return uuid.uuid4().hex


def post_json(
    client: httpx.Client,
    path: str,
    payload: dict,
    *,
    rejected_code: str = "input_rejected",
    too_large_code: str = "input_too_long",
) -> Any:
    """POST JSON and return the decoded reply, or raise EngineError."""
    response = send(client, "POST", path, rejected_code=rejected_code, too_large_code=too_large_code, json=payload)
    return decode_json(client, path, response)


def get_json(client: httpx.Client, path: str) -> Any:
    """GET a JSON document such as /info, or raise EngineError."""
    response = send(client, "GET", path, rejected_code="engine_rejected")
    return decode_json(client, path, response)


def post_multipart(
    client: httpx.Client,
    path: str,
    *,
    data: dict,
    files: dict,
    rejected_code: str = "input_rejected",
    too_large_code: str = "input_too_long",
) -> httpx.Response:
    """POST a multipart/form-data body and return the 200 response, or raise EngineError."""
    return send(
        client, "POST", path, rejected_code=rejected_code, too_large_code=too_large_code, data=data, files=files
    )


def check_health(client: httpx.Client, path: str = "/health") -> bool:
    """Return True when GET /health returns 200."""
    try:
        response = client.get(path, headers={REQUEST_ID_HEADER: new_request_id()})
    except httpx.HTTPError as exc:
        logger.info("Health check of %s failed: %s", client.base_url, type(exc).__name__)
        return False
    return response.status_code == 200


def send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    rejected_code: str,
    too_large_code: str = "input_too_long",
    **kwargs,
) -> httpx.Response:
    """Send one request with a fresh request id; return a 200 response or raise EngineError."""
    request_id = new_request_id()
    try:
        response = client.request(method, path, headers={REQUEST_ID_HEADER: request_id}, **kwargs)
    except httpx.TimeoutException as exc:
        logger.warning(
            "Engine %s%s timed out (%s, request id %s)", client.base_url, path, type(exc).__name__, request_id
        )
        raise EngineError(
            gettext_noop("The engine did not respond in time."), transient=True, code="engine_timeout"
        ) from exc
    except httpx.TransportError as exc:
        logger.warning("Engine %s%s unreachable (%s, request id %s)", client.base_url, path, exc, request_id)
        raise EngineError(
            gettext_noop("Could not reach the engine: %(error)s."),
            params={"error": type(exc).__name__},
            transient=True,
            code="engine_unreachable",
        ) from exc

    if response.status_code == 200:
        return response
    raise _status_error(client, path, response, request_id, rejected_code, too_large_code)


def decode_json(client: httpx.Client, path: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        logger.warning("Engine %s%s returned 200 with a body that is not JSON", client.base_url, path)
        raise EngineError(
            gettext_noop("The engine returned invalid JSON."), transient=True, code="engine_bad_response"
        ) from exc


def bad_response(client: httpx.Client, path: str, problem: str) -> EngineError:
    """Log a reply whose shape breaks the protocol and build the transient error for it."""
    logger.warning("Engine %s%s returned an unexpected reply: %s", client.base_url, path, problem)
    return EngineError(
        gettext_noop("The engine returned an unexpected result shape."),
        transient=True,
        code="engine_bad_response",
    )


def _status_error(
    client: httpx.Client,
    path: str,
    response: httpx.Response,
    request_id: str,
    rejected_code: str,
    too_large_code: str,
) -> EngineError:
    status = response.status_code
    detail, error_type = _error_fields(response)
    transient = status in {408, 424, 429} or status >= 500
    if transient:
        # TEI answers 424 when its backend fails during inference (for example out of
        # memory), which a later retry may not hit.
        logger.warning("Engine %s%s returned %d (request id %s): %s", client.base_url, path, status, request_id, detail)
        code = "engine_busy" if status == 429 else "engine_unavailable"
    elif status == 413:
        code = too_large_code
    elif status in {400, 422}:
        if error_type in KNOWN_REJECTION_CODES:
            code = error_type
        elif any(phrase in detail.lower() for phrase in _CONTEXT_LENGTH_PHRASES):
            code = "input_too_long"
        else:
            code = rejected_code
    else:
        logger.warning("Engine %s%s returned %d (request id %s): %s", client.base_url, path, status, request_id, detail)
        code = "engine_rejected"

    if detail:
        template = gettext_noop("The engine returned %(status)d: %(detail)s")
    else:
        template = gettext_noop("The engine returned %(status)d.")
    return EngineError(
        template, params={"status": status, "detail": detail}, transient=transient, status=status, code=code
    )


def _error_fields(response: httpx.Response) -> tuple[str, str | None]:
    """Return (message, error_type) from an error body.

    Understands RedGX and TEI's ``{"error": str, "error_type": str}``, OpenAI's
    ``{"error": {"message", "type", "code"}}`` and vLLM's older ``{"message", "type"}``.
    """
    try:
        body = response.json()
    except ValueError:
        return "", None
    if not isinstance(body, dict):
        return "", None
    error_type = body.get("error_type")
    error = body.get("error")
    if isinstance(error, dict):
        text = error.get("message")
        error_type = error_type or error.get("code") or error.get("type")
    else:
        text = error or body.get("message") or body.get("detail")
    text = text[:MAX_ERROR_TEXT] if isinstance(text, str) else ""
    return text, error_type if isinstance(error_type, str) else None
