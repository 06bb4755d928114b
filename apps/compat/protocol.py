"""The Upstash REST wire format: JSON arguments in, ``{"result"}`` / ``{"error"}`` out.

With the request header ``Upstash-Encoding: base64`` every string in a result is base64
except the status reply ``OK``, which both Upstash SDKs read as it is.
"""

import base64
import logging
import math

import redis.exceptions
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.api.errors import PayloadTooLarge
from apps.api.exceptions import translate_exception

from .commands import command_error, with_error_code

logger = logging.getLogger(__name__)

ENCODING_HEADER = "Upstash-Encoding"


def wants_base64(request) -> bool:
    return request.headers.get(ENCODING_HEADER, "").strip().lower() == "base64"


def command_from_json(value) -> list[bytes]:
    """Convert one JSON command (``["SET", "k", "v", "EX", 10]``) to Redis arguments."""
    if not isinstance(value, list) or not value:
        raise command_error(_("a command must be a non-empty JSON array: the command name, then its arguments."))
    return [to_argument(item) for item in value]


def to_argument(item) -> bytes:
    """Convert a JSON string, number or boolean to the bytes Redis receives."""
    if isinstance(item, str):
        try:
            raw = item.encode("utf-8")
        except UnicodeEncodeError:
            raise command_error(_("an argument is not valid Unicode text.")) from None
    elif isinstance(item, bool):
        raw = b"true" if item else b"false"
    elif isinstance(item, int | float):
        # 1e400 parses to infinity; Redis would store "inf", which no client sent.
        if isinstance(item, float) and not math.isfinite(item):
            raise command_error(_("a number argument is out of range."))
        raw = repr(item).encode()
    else:
        raise command_error(_("arguments must be JSON strings, numbers or booleans."))
    return check_argument_size(raw)


def check_argument_size(raw: bytes) -> bytes:
    if len(raw) > settings.REDGX_MAX_VALUE_BYTES:
        message = _("an argument is larger than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_VALUE_BYTES}
        raise PayloadTooLarge(with_error_code("ERR", message))
    return raw


def result_to_json(reply, encode_base64: bool):
    """Convert a raw RESP2 reply to JSON values; raise CommandError for bytes that need base64."""
    if isinstance(reply, bytes):
        if encode_base64 and reply != b"OK":
            return base64.b64encode(reply).decode("ascii")
        try:
            return reply.decode("utf-8")
        except UnicodeDecodeError:
            raise command_error(
                _("the result contains binary data that is not UTF-8; send the header 'Upstash-Encoding: base64'.")
            ) from None
    if isinstance(reply, list):
        return [result_to_json(item, encode_base64) for item in reply]
    if isinstance(reply, Exception):
        return redis_error_text(reply)
    return reply


def redis_error_text(exc: Exception, text: str | None = None) -> str:
    """Return a Redis error reply as Redis sent it, with its code (``ERR``, ``WRONGTYPE`` ...) first.

    redis-py removes the code from some errors (``ERR``, ``EXECABORT``) and keeps it on
    others, so a message that does not start with an upper-case code gets ``ERR`` back.
    ``text`` replaces the exception's own message when given.
    """
    text = str(exc) if text is None else text
    if isinstance(exc, redis.exceptions.ExecAbortError):
        return "EXECABORT " + text
    code = text.split(" ", 1)[0]
    return text if code.isupper() and code.isalpha() else "ERR " + text


def error_response(message: str, status_code: int, headers: dict | None = None) -> Response:
    return Response({"error": message}, status=status_code, headers=headers)


def upstash_exception_handler(exc, context):
    """Shape every error of the compat views as ``{"error": "..."}`` with the matching status."""
    exc = translate_exception(exc)
    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "compat view")
        message = with_error_code("ERR", _("Internal server error."))
        return error_response(message, status.HTTP_500_INTERNAL_SERVER_ERROR)

    message = _first_message(exc.detail)
    if isinstance(exc, exceptions.PermissionDenied):
        message = with_error_code("NOPERM", message)

    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="RedGX"'
    if isinstance(exc, exceptions.MethodNotAllowed) and context.get("view") is not None:
        headers["Allow"] = ", ".join(context["view"].allowed_methods)
    return error_response(message, exc.status_code, headers)


def _first_message(detail) -> str:
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    if isinstance(detail, dict):
        return _first_message(next(iter(detail.values()))) if detail else ""
    return str(detail)
