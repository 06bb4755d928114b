"""Gunicorn settings for the REST API (WSGI, threads; see docs/benchmarks.md for why)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# Requests are short; this only stops a worker stuck for a minute.
timeout = 60
graceful_timeout = 20
keepalive = 5
# The maximum request line gunicorn accepts (8190 is gunicorn's own upper bound); longer
# ones get gunicorn's 414 page. Key names and query strings must fit in it with the method and path.
limit_request_line = 8190
# Only these addresses may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 27 opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl), so
# several gunicorns on one machine would share it. RedGX manages processes with signals.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") == ""
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"


# Multiprocess Prometheus metrics (apps/metrics): every worker process writes its values
# to files in PROMETHEUS_MULTIPROC_DIR, and /metrics adds them up.
def on_starting(server):
    # Files of an earlier run would be added to this run's values.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    # The live gauges of a stopped worker process must not be reported any more.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
