"""The worker's metrics endpoint: a Dramatiq fork process serving GET /metrics over HTTP.

It imports no broker, so the fork starts without a Redis connection of its own.
"""

import logging
import os

import django
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from .exposition import multiprocess_dir

logger = logging.getLogger(__name__)


def serve_worker_metrics() -> int:
    """Serve the metrics of every worker process until the fork is stopped; return 1 when misconfigured."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")
    django.setup()
    from django.conf import settings

    directory = multiprocess_dir()
    if not directory:
        # Without the shared directory this process would only see its own, empty, registry.
        logger.error(
            "Worker metrics are off: set PROMETHEUS_MULTIPROC_DIR to an empty directory that every worker "
            "process can write, or start the worker without apps.metrics.worker."
        )
        return 1

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    host, port = settings.REDGX_WORKER_METRICS_HOST, settings.REDGX_WORKER_METRICS_PORT
    server, thread = start_http_server(port, addr=host, registry=registry)
    logger.info("Serving worker metrics on http://%s:%d/metrics", host, port)
    try:
        thread.join()
    finally:
        server.shutdown()
    return 0
