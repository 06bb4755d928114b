import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _

from .envelope import error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


class ApiErrorMiddleware:
    """Keeps every /api/ response in the envelope, even when Django itself fails.

    DRF views shape their own errors. This middleware covers the rest: bodies over
    the size limit, rejected before they are read, and exceptions raised by other
    middleware or by URL resolution.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        limit = self._body_limit(request)
        if self._declared_length(request) > limit:
            return self._too_large(limit)
        return self.get_response(request)

    @staticmethod
    def _body_limit(request) -> int:
        # File uploads to the stt and ocr submit routes may be as large as their file limit.
        if request.method == "POST" and request.content_type == "multipart/form-data":
            from apps.inference.views import upload_body_limit

            return upload_body_limit(request.path) or settings.REDGX_MAX_BODY_BYTES
        return settings.REDGX_MAX_BODY_BYTES

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return self._too_large()
        logger.exception("Unhandled error for %s %s", request.method, request.path)
        return error_response(500, "server_error", _("Internal server error."))

    @staticmethod
    def _declared_length(request) -> int:
        try:
            return int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0

    @staticmethod
    def _too_large(limit: int | None = None):
        limit = settings.REDGX_MAX_BODY_BYTES if limit is None else limit
        message = _("The request body is larger than %(limit)d bytes.") % {"limit": limit}
        return error_response(413, "payload_too_large", message)
