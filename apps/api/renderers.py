from rest_framework.renderers import JSONRenderer

from .envelope import success_body


class EnvelopeJSONRenderer(JSONRenderer):
    """Wraps view data in the success envelope; error bodies arrive already shaped."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and getattr(response, "exception", False):
            body = {"ok": False, "error": data}
        else:
            body = success_body(data)
        return super().render(body, accepted_media_type, renderer_context)
