"""Content negotiation with a shortcut for the API's usual request.

API views have one renderer (the JSON envelope), and most clients send no Accept header
or `*/*`. DRF's DefaultContentNegotiation still parses the query string and the Accept
list for each such request, which took about 5% of the web workers' CPU time under a KV
GET load (py-spy, docs/benchmarks.md). Every other request goes through DRF's rules
unchanged, including 406 for an Accept header that rules out JSON.
"""

from rest_framework.negotiation import DefaultContentNegotiation

# Accept values for which DRF picks the only renderer with that renderer's media type.
_ACCEPT_ANY = {"", "*/*", "application/json"}


class EnvelopeContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and not format_suffix and self._accepts_anything(request._request.META):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

    def _accepts_anything(self, meta) -> bool:
        # A `format` query parameter selects renderers by name, so it takes DRF's path.
        if f"{self.settings.URL_FORMAT_OVERRIDE}=" in meta.get("QUERY_STRING", ""):
            return False
        return meta.get("HTTP_ACCEPT", "").strip() in _ACCEPT_ANY
