"""The one exception handler: every error under /api/ leaves here as an envelope."""

import logging

import redis.exceptions
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from .envelope import error_detail
from .errors import Conflict, InvalidInput, PayloadTooLarge, ServiceUnavailable

logger = logging.getLogger(__name__)

# DRF's own codes that read better under another name.
_RENAMED_CODES = {"parse_error": "malformed_json", "throttled": "rate_limited"}


def envelope_exception_handler(exc, context):
    exc = translate_exception(exc)
    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "API view")
        body = error_detail("server_error", _("Internal server error."))
        return _error_response(body, status.HTTP_500_INTERNAL_SERVER_ERROR)

    body = error_body(exc)
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
    if isinstance(exc, exceptions.MethodNotAllowed) and context.get("view") is not None:
        headers["Allow"] = ", ".join(context["view"].allowed_methods)
    return _error_response(body, exc.status_code, headers)


def _error_response(body: dict, status_code: int, headers: dict | None = None) -> Response:
    response = Response(body, status=status_code, headers=headers)
    # The renderer reads this flag to pick the failure envelope.
    response.exception = True
    return response


# A Redis Cluster that has lost a master, or a slot's owner, raises the cluster errors.
# ClusterDownError and TryAgainError are ResponseErrors, so they must be checked first.
REDIS_UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.RedisClusterUnreachableError,
)


def translate_exception(exc: Exception) -> Exception:
    """Map framework and Redis exceptions to API errors; others come back unchanged."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, REDIS_UNAVAILABLE_ERRORS):
        logger.warning("Redis unavailable: %s", exc)
        return ServiceUnavailable(_("Redis is unavailable. Retry later."), code="redis_unavailable")
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("Database unavailable: %s", exc)
        return ServiceUnavailable(_("The database is unavailable. Retry later."), code="database_unavailable")
    if isinstance(exc, redis.exceptions.ResponseError):
        if "WRONGTYPE" in str(exc):
            return Conflict(_("The key holds a value of another type."), code="wrong_type")
        # Arguments are validated before they reach Redis, so what Redis still rejects is
        # about the stored data. Its own message names the problem and contains no gateway internals.
        logger.info("Redis rejected a command: %s", exc)
        return InvalidInput(
            _("Redis rejected the command: %(error)s") % {"error": _redis_message(exc)}, code="redis_error"
        )
    return exc


def _redis_message(exc: Exception) -> str:
    # Pipelines prefix the text with "Command # N (...) of pipeline caused error:", which
    # would echo namespaced key names.
    text = str(exc)
    marker = "of pipeline caused error: "
    return text.split(marker, 1)[1] if marker in text else text


def error_body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        return _validation_body(exc)
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    body = error_detail(_RENAMED_CODES.get(code, code), exc.detail)
    if getattr(exc, "fields", None):
        body["fields"] = exc.fields
    return body


def _validation_body(exc: exceptions.ValidationError) -> dict:
    """Name the first offending field in the message and list all of them in ``fields``."""
    detail = exc.detail
    if isinstance(detail, dict):
        fields = {name: _messages(value) for name, value in detail.items()}
        name, messages = next(iter(fields.items()))
        if name == "non_field_errors":
            return error_detail("invalid", messages[0], fields=fields)
        return error_detail(
            "invalid", _("Invalid '%(field)s': %(error)s") % {"field": name, "error": messages[0]}, fields=fields
        )
    return error_detail("invalid", _messages(detail)[0])


def _messages(value) -> list[str]:
    if isinstance(value, list):
        flat = []
        for item in value:
            flat.extend(_messages(item))
        return flat
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, item in value.items() for message in _messages(item)]
    return [str(value)]


def describe_error(exc: Exception) -> tuple[int, dict]:
    """Return the status and error body for an exception, as the handler would return them.

    For places that report several errors in one response, such as pipeline results.
    """
    exc = translate_exception(exc)
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, error_body(exc)
    logger.exception("Unhandled error in one operation of a batch")
    return status.HTTP_500_INTERNAL_SERVER_ERROR, error_detail("server_error", _("Internal server error."))
