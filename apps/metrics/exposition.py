"""The registry that /metrics and the worker's exporter render.

With PROMETHEUS_MULTIPROC_DIR set, values come from the files that every process of the
server writes there, so a scrape reads the sum over granian's or Dramatiq's processes.
Without it (a single process, as in development) they come from this process's own registry.
"""

import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _ProcessRegistry(Collector):
    """This process's default registry, wrapped so that it can join another registry."""

    def collect(self):
        return REGISTRY.collect()


def render(*extra_collectors: Collector) -> bytes:
    """Render the process or multiprocess metrics, plus ``extra_collectors``, in Prometheus's text format."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry)
