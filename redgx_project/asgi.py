"""ASGI entry point: the WebSocket server for pub/sub (docs/pubsub.md).

The REST API is served over WSGI by granian (deploy/web.py, docs/benchmarks.md). This process serves
WebSocket connections under /ws/; it also serves HTTP with the same Django application,
for ASGI servers and for measuring them.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")

# Django is set up here, before the consumers import models.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.access.lifespan import lifespan  # noqa: E402
from apps.pubsub.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_application, "websocket": URLRouter(websocket_urlpatterns), "lifespan": lifespan}
)
