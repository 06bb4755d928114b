import math
import time

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied

from apps.inference import stats
from apps.tenancy.keycache import ResolvedKey, record_key_usage, resolve_key
from apps.tenancy.keys import MAX_PLAIN_KEY_LENGTH

from . import ratelimit
from .clientaddress import address_in_networks, client_address
from .errors import PayloadTooLarge, RateLimited

API_KEY_HEADER = "HTTP_X_API_KEY"


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates the ``X-API-Key`` header; ``request.auth`` becomes the ResolvedKey.

    After the key resolves, the request must come from the key's allowlist, fit the key's
    body size limit, and pass its rate limit. The facts found on the way are stored on the
    Django request for the response headers and the access history (apps.api.middleware).
    """

    # Lazy, because the class body runs at import, before a request picks the language.
    missing_key_message = gettext_lazy("Missing X-API-Key header.")

    def get_plain_key(self, request) -> str:
        """Return the API key the request carries, or "" when it has none; subclasses read other places."""
        return request.META.get(API_KEY_HEADER, "").strip()

    def authenticate(self, request) -> tuple[ResolvedKey, ResolvedKey]:
        plain_key = self.get_plain_key(request)
        if not plain_key:
            raise NotAuthenticated(self.missing_key_message)
        if len(plain_key) > MAX_PLAIN_KEY_LENGTH:
            raise AuthenticationFailed(_("Unknown API key."))

        key = resolve_key(plain_key)
        if key is None:
            raise AuthenticationFailed(_("Unknown API key."))
        django_request = request._request
        # Set before the checks below, so the access history shows which key was refused.
        django_request.redgx_key = key
        if key.revoked:
            raise AuthenticationFailed(_("This API key has been revoked."), code="key_revoked")
        if key.is_expired(time.time()):
            raise AuthenticationFailed(_("This API key has expired."), code="key_expired")

        address = request_client_address(django_request)
        check_key_allowlist(key, address)
        check_request_size(django_request, key.quota.max_request_bytes)
        check_rate_limit(django_request, key)
        record_key_usage(key.id, address)
        return key, key

    def authenticate_header(self, request) -> str:
        # A value here makes DRF return 401 instead of 403 for missing credentials.
        return 'ApiKey header="X-API-Key"'


def request_client_address(django_request) -> str:
    """Return the request's client address, computed once per request."""
    address = getattr(django_request, "redgx_client_address", None)
    if address is None:
        address = client_address(django_request)
        django_request.redgx_client_address = address
    return address


def address_forbidden(address: str) -> PermissionDenied:
    return PermissionDenied(
        _("Requests from address %(address)s are not allowed for this API key or namespace.") % {"address": address},
        code="address_forbidden",
    )


def check_key_allowlist(key: ResolvedKey, address: str) -> None:
    if not address_in_networks(address, key.networks):
        raise address_forbidden(address)


def check_request_size(django_request, max_bytes: int | None) -> None:
    """Reject a body over the key's limit from its Content-Length, before the body is read.

    NOTE: a chunked body has no Content-Length, so only REDGX_MAX_BODY_BYTES (enforced by
    Django while reading) bounds it, not the key's own limit.
    """
    if max_bytes is None:
        return
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if declared > max_bytes:
        raise PayloadTooLarge(
            _("The request body is larger than %(limit)d bytes, the limit of this API key.") % {"limit": max_bytes}
        )


def check_rate_limit(django_request, key: ResolvedKey) -> None:
    decision = ratelimit.check(str(key.id), key.quota.rate_per_s, key.quota.burst)
    django_request.redgx_rate_limit = decision
    if decision is not None and not decision.allowed:
        namespace = django_request.resolver_match.kwargs.get("namespace", "") if django_request.resolver_match else ""
        stats.record_rejection("rate_limited", namespace)
        raise RateLimited(retry_after=max(1, math.ceil(decision.retry_after_s)))
