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
# Only these addresses may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
