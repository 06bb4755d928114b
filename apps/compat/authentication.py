"""Bearer-token authentication for the Upstash-compatible API, on top of the API key checks."""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import NotAuthenticated

from apps.api.authentication import ApiKeyAuthentication

TOKEN_QUERY_PARAMETER = "_token"  # noqa: S105 - a parameter name, not a secret


class BearerKeyAuthentication(ApiKeyAuthentication):
    """Reads the RedGX API key from ``Authorization: Bearer``, as Upstash clients send their token.

    The ``_token`` query parameter is read only when REDGX_UPSTASH_ALLOW_TOKEN_PARAM is
    on, because URLs end up in access logs and proxies. Everything after reading the key
    (revoked, expired, grants) is ApiKeyAuthentication's.
    """

    missing_key_message = gettext_lazy("Missing 'Authorization: Bearer <API key>' header.")

    def get_plain_key(self, request) -> str:
        scheme, _separator, token = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        if TOKEN_QUERY_PARAMETER in request.query_params:
            if not settings.REDGX_UPSTASH_ALLOW_TOKEN_PARAM:
                raise NotAuthenticated(
                    _(
                        "The _token query parameter is disabled on this server. "
                        "Send the API key in the 'Authorization: Bearer' header."
                    )
                )
            return request.query_params[TOKEN_QUERY_PARAMETER].strip()
        return ""

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="RedGX"'
