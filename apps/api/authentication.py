import time

from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated

from apps.tenancy.keycache import ResolvedKey, record_key_usage, resolve_key
from apps.tenancy.keys import MAX_PLAIN_KEY_LENGTH

API_KEY_HEADER = "HTTP_X_API_KEY"


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates the ``X-API-Key`` header; ``request.auth`` becomes the ResolvedKey."""

    missing_key_message = _("Missing X-API-Key header.")

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
        if key.revoked:
            raise AuthenticationFailed(_("This API key has been revoked."), code="key_revoked")
        if key.is_expired(time.time()):
            raise AuthenticationFailed(_("This API key has expired."), code="key_expired")

        record_key_usage(key.id)
        return key, key

    def authenticate_header(self, request) -> str:
        # A value here makes DRF return 401 instead of 403 for missing credentials.
        return 'ApiKey header="X-API-Key"'
