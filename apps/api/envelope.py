"""The response envelope shared by every API response.

Success: ``{"ok": true, "data": ...}``. Failure:
``{"ok": false, "error": {"code": ..., "message": ..., ["fields": ...]}}``.
The ``code`` is stable and meant for programs; the ``message`` is for people
and follows the request's language.
"""

from typing import Any

from django.http import JsonResponse


def success_body(data: Any) -> dict:
    return {"ok": True, "data": data}


def error_detail(code: str, message: str, **extra: Any) -> dict:
    return {"code": code, "message": str(message), **extra}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JsonResponse:
    """Build an error response outside DRF (middleware, URL fallbacks)."""
    body = {"ok": False, "error": error_detail(code, message)}
    return JsonResponse(
        body, status=status, headers=headers, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")}
    )
