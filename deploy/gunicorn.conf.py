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
