import logging
import re
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _

from apps.access.buffer import record_access
from apps.access.models import Transport
from apps.metrics import http as http_metrics

from .clientaddress import client_address
from .envelope import error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
# The Upstash-compatible routes take the same keys, so they are recorded and limited alike.
COMPAT_PREFIX = "/compat/"
# /api/v1/ns/{namespace}/{area}/... and /api/v1/admin/{resource}...
_NAMESPACE_PATH = re.compile(r"^/api/v1/ns/(?P<namespace>[^/]+)/(?P<area>[^/]+)")
_ADMIN_PATH = re.compile(r"^/api/v1/admin/(?P<resource>[^/]+)")
# /compat/upstash/ns/{namespace}[/...]
_COMPAT_PATH = re.compile(r"^/compat/(?P<protocol>[^/]+)/ns/(?P<namespace>[^/]+)")


class AccessMiddleware:
    """Adds the RateLimit-* headers and records every /api/ and /compat/ request in the access history.

    ApiKeyAuthentication stores the key and the rate-limit decision on the request, and
    OperationViewSet stores the operation name, so a request rejected before any view runs
    is still recorded, without a key.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith((API_PREFIX, COMPAT_PREFIX)):
            return self.get_response(request)
        started = time.monotonic()
        request.redgx_client_address = client_address(request)
        response = self.get_response(request)

        decision = getattr(request, "redgx_rate_limit", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        self._record(request, response.status_code, started)
        return response

    @staticmethod
    def _record(request, status: int, started: float) -> None:
        key = getattr(request, "redgx_key", None)
        namespace, area = "", ""
        action = getattr(request, "redgx_action", "") or request.method.lower()
        if match := _NAMESPACE_PATH.match(request.path):
            namespace, area = match["namespace"], match["area"]
        elif match := _ADMIN_PATH.match(request.path):
            area = "admin"
            action = f"{match['resource']}.{action}"
        elif match := _COMPAT_PATH.match(request.path):
            namespace, area = match["namespace"], match["protocol"]
        record_access(
            transport=Transport.REST,
            status=status,
            started=started,
            client_address=request.redgx_client_address,
            key_prefix=key.prefix if key is not None else "",
            namespace=namespace,
            area=area,
            action=action,
        )


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
        # Django stops at the first process_exception that returns a response, and this one
        # runs before apps.metrics.middleware's, so it counts the exception itself.
        http_metrics.exception_raised(request, exception)
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
