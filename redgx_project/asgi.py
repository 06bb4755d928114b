"""ASGI entry point. The REST API is served over WSGI in production (see docs/benchmarks.md);
this exists for ASGI servers and for measuring them."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")

application = get_asgi_application()
