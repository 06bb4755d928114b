"""Worker metrics: start the worker as ``dramatiq apps.inference.worker apps.metrics.worker``.

Importing this module in the worker processes adds a middleware whose fork serves the
metrics of every worker process on REDGX_WORKER_METRICS_HOST:REDGX_WORKER_METRICS_PORT,
read from PROMETHEUS_MULTIPROC_DIR. Dramatiq runs the fork once per worker, beside its
worker processes. The directory must be empty when the worker starts (a tmpfs or an
emptyDir volume), because values of earlier runs would be added to this run's.
"""

import os

import dramatiq
from prometheus_client import multiprocess

from .exposition import multiprocess_dir


class WorkerMetricsMiddleware(dramatiq.Middleware):
    """Run the metrics exporter as a Dramatiq fork, and drop a stopped process's live gauges."""

    @property
    def forks(self):
        from .exporter import serve_worker_metrics

        return [serve_worker_metrics]

    def after_worker_shutdown(self, broker, worker) -> None:
        directory = multiprocess_dir()
        if directory:
            multiprocess.mark_process_dead(os.getpid(), directory)


dramatiq.get_broker().add_middleware(WorkerMetricsMiddleware())
