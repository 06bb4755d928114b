"""The one HTTP layer for engine calls: explicit timeouts, no redirects, one error type."""

import logging
import threading

import httpx
from django.utils.translation import gettext_noop

from .errors import EngineError

logger = logging.getLogger(__name__)

# Engine error text is passed to clients; this keeps a long traceback or HTML page out.
MAX_ERROR_TEXT = 500

_clients: dict[tuple[str, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def client_for(base_url: str, timeout_s: float) -> httpx.Client:
    """Return a pooled client per engine, shared by the threads of this process."""
    key = (base_url, timeout_s)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = httpx.Client(
                base_url=base_url,
                timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
                headers={"User-Agent": "redgx-worker"},
            )
        return _clients[key]


def post_json(client: httpx.Client, path: str, payload: dict):
    """POST JSON and return the decoded reply, or raise EngineError."""
    try:
        response = client.post(path, json=payload)
    except httpx.TimeoutException as exc:
        raise EngineError(
            gettext_noop("The engine did not respond in time."), transient=True, code="engine_timeout"
        ) from exc
    except httpx.TransportError as exc:
        raise EngineError(
            gettext_noop("Could not reach the engine: %(error)s."),
            params={"error": type(exc).__name__},
            transient=True,
            code="engine_unreachable",
        ) from exc

    if response.status_code == 200:
        try:
            return response.json()
        except ValueError as exc:
            logger.warning("Engine %s%s returned 200 with a body that is not JSON", client.base_url, path)
            raise EngineError(
                gettext_noop("The engine returned invalid JSON."), transient=True, code="engine_bad_response"
            ) from exc

    detail = _error_text(response)
    # TEI answers 424 when its backend fails during inference (for example out of memory),
    # which a later retry may not hit.
    transient = response.status_code in {424, 429} or response.status_code >= 500
    if transient:
        logger.warning("Engine %s%s returned %d: %s", client.base_url, path, response.status_code, detail)
        code = "engine_busy" if response.status_code == 429 else "engine_unavailable"
    else:
        code = "engine_rejected"
    if detail:
        template = gettext_noop("The engine returned %(status)d: %(detail)s")
    else:
        template = gettext_noop("The engine returned %(status)d.")
    raise EngineError(
        template,
        params={"status": response.status_code, "detail": detail},
        transient=transient,
        status=response.status_code,
        code=code,
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or body.get("detail")
        if isinstance(text, str):
            return text[:MAX_ERROR_TEXT]
    return ""
