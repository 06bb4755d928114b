"""WebSocket routes of the ASGI process. Channels matches them without the leading "/"."""

from django.urls import re_path

from .consumers import NotFoundConsumer, PubSubConsumer

# A namespace segment that is not a valid name still routes, so that the key's grants
# decide (4403), as in the REST API.
websocket_urlpatterns = [
    re_path(r"^ws/v1/ns/(?P<namespace>[^/]+)/pubsub$", PubSubConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
