"""WSGI entry point: the REST API is served by gunicorn with threads (see docs/benchmarks.md)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")

application = get_wsgi_application()
