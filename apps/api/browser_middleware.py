"""Django middleware that only browser pages use, skipped on API paths.

API requests authenticate with the X-API-Key header inside DRF, and DRF views are exempt
from CSRF checks, so they use no session, Django user, CSRF token or flash message. Under
a KV GET load, py-spy attributed about 5% of the web workers' CPU time to these four
middleware classes (docs/benchmarks.md). Each class here runs its Django counterpart for
every path except /api/ and /compat/, so the admin and its login page keep all of them.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware

# The REST API and the Upstash-compatible API. Both authenticate with API keys.
API_PATH_PREFIXES = ("/api/", "/compat/")


def is_api_path(request) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


class OutsideApiMixin:
    """Passes API requests straight to the next handler, skipping the Django middleware it is mixed into.

    The classes stay subclasses of Django's, so the admin's system checks (admin.E408 to
    E410) still find them, and they keep Django's sync and async support: in async mode
    get_response returns a coroutine, which the caller awaits.
    """

    def __call__(self, request):
        if is_api_path(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddlewareOutsideApi(OutsideApiMixin, SessionMiddleware):
    pass


class CsrfViewMiddlewareOutsideApi(OutsideApiMixin, CsrfViewMiddleware):
    def process_view(self, request, view_func, view_args, view_kwargs):
        # CsrfViewMiddleware checks the token here, not in __call__.
        if is_api_path(request):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class AuthenticationMiddlewareOutsideApi(OutsideApiMixin, AuthenticationMiddleware):
    pass


class MessageMiddlewareOutsideApi(OutsideApiMixin, MessageMiddleware):
    pass
