"""Django's LocaleMiddleware without its URL-prefix lookups on API paths."""

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers

from .browser_middleware import is_api_path


class ApiLocaleMiddleware(LocaleMiddleware):
    """LocaleMiddleware with a shorter path for API requests.

    LocaleMiddleware looks for a language code at the start of the path twice per request, and
    on /api/ and /compat/ paths each lookup ends in a caught LookupError, because "api" and
    "compat" are not language codes. Without i18n_patterns in the URLconf the lookup cannot
    change the outcome, so API requests skip it. They still get their language from the
    language cookie and Accept-Language, and the same Vary and Content-Language headers.
    With i18n_patterns, or on other paths, Django's code runs unchanged.
    """

    def process_request(self, request):
        if not self._skips_path_lookup(request):
            return super().process_request(request)
        translation.activate(translation.get_language_from_request(request, check_path=False))
        request.LANGUAGE_CODE = translation.get_language()
        return None

    def process_response(self, request, response):
        if not self._skips_path_lookup(request):
            return super().process_response(request, response)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", translation.get_language())
        return response

    @staticmethod
    def _skips_path_lookup(request) -> bool:
        if not is_api_path(request):
            return False
        urlconf = getattr(request, "urlconf", settings.ROOT_URLCONF)
        i18n_patterns_used, _prefixed_default_language = is_language_prefix_patterns_used(urlconf)
        return not i18n_patterns_used
