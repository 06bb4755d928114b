"""Domain errors that views raise; the exception handler turns them into envelopes."""

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException


class ApiError(APIException):
    """An error with a stable ``code``, an optional ``Retry-After`` in seconds, and
    optional ``fields`` with more detail per field or item."""

    retry_after: int | None = None
    fields: dict | None = None

    def __init__(self, detail=None, code=None, retry_after: int | None = None, status: int | None = None):
        super().__init__(detail, code)
        if retry_after is not None:
            self.retry_after = retry_after
        if status is not None:
            self.status_code = status


class InvalidInput(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = _("Invalid input.")


class UnknownOperation(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "unknown_operation"
    default_detail = _("Unknown operation.")


class ResourceNotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = _("Not found.")


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = _("The request conflicts with the stored value.")


class Gone(ApiError):
    status_code = status.HTTP_410_GONE
    default_code = "gone"
    default_detail = _("The resource existed but is no longer available.")


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = _("The request is too large.")


class QueueFull(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "queue_full"
    default_detail = _("The inference queue is full. Retry later.")


class RateLimited(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "rate_limited"
    default_detail = _("Too many requests for this API key. Retry after the time in Retry-After.")


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    default_detail = _("A dependency of the gateway is unavailable. Retry later.")
    retry_after = 1
