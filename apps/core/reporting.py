"""Error reports that show a request's own metadata, not the server process's environment.

granian builds each WSGI environ on top of a copy of ``os.environ``, so ``request.META``
also contains the process's settings (``DATABASE_URL``, ``DJANGO_SECRET_KEY`` and the rest).
Django's reporter hides only names that look secret. This filter gives a report (the DEBUG
error page, an e-mail to ADMINS) only the request's CGI and header variables.
"""

import os

from django.views.debug import SafeExceptionReporterFilter

# Keys a WSGI server sets for the request itself (PEP 3333 and the CGI variables).
_REQUEST_KEYS = frozenset(
    {
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "GATEWAY_INTERFACE",
        "PATH_INFO",
        "QUERY_STRING",
        "RAW_URI",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "REMOTE_PORT",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "SCRIPT_NAME",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
    }
)


def is_request_key(name: str) -> bool:
    """Return whether an environ key describes the request rather than the server process.

    A header name that the process environment also has (``HTTP_PROXY``, say) is left out:
    the report cannot tell which of the two the value came from.
    """
    if name in _REQUEST_KEYS:
        return True
    return name.startswith(("HTTP_", "wsgi.")) and name not in os.environ


class RequestOnlyExceptionReporterFilter(SafeExceptionReporterFilter):
    def get_safe_request_meta(self, request):
        meta = super().get_safe_request_meta(request)
        return {name: value for name, value in meta.items() if is_request_key(name)}
