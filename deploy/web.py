"""Serve the REST API with granian's WSGI server: worker processes with a few threads each.

Run it from the repository root: ``python deploy/web.py``. docs/benchmarks.md explains the
choice of granian over gunicorn (the HTTP handling runs in Rust, about a third less CPU per
request, and each worker accepts its own share of the connections).

Environment:

- ``HOST``, ``PORT``: where to listen (127.0.0.1:8000).
- ``WEB_CONCURRENCY``: worker processes (2). One per CPU core is the usual choice.
- ``WEB_THREADS``: Python threads per worker (3). More threads mostly wait for the GIL: 4 cost
  about 4% more CPU per request than 3 (docs/benchmarks.md). A blocked read or ``?wait``
  occupies a thread, and ``REDGX_MAX_BLOCKING_REQUESTS`` keeps a quarter of them free.
- ``WEB_BACKLOG``: pending connections the kernel queues (1024).
- ``WEB_ACCESS_LOG``: any value turns on granian's access log on stderr.
- ``PROMETHEUS_MULTIPROC_DIR``: emptied of an earlier run's files before the workers start.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APPLICATION = "redgx_project.wsgi:application"

# A client has this long to send its request headers (slow clients must not hold a connection).
HEADER_READ_TIMEOUT_MS = 30_000
# A stopping worker gets this long to finish its requests (a blocked read waits up to
# REDGX_MAX_BLOCK_MS, 25 s by default) before it is killed.
WORKER_KILL_TIMEOUT_S = 30


def clear_multiprocess_metrics(directory: str) -> None:
    """Remove the metric files of an earlier run, which the new run's values would be added to."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def build_server():
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    return Server(
        APPLICATION,
        address=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        interface=Interfaces.WSGI,
        workers=int(os.environ.get("WEB_CONCURRENCY", "2")),
        blocking_threads=int(os.environ.get("WEB_THREADS", "3")),
        backlog=int(os.environ.get("WEB_BACKLOG", "1024")),
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        log_access=bool(os.environ.get("WEB_ACCESS_LOG")),
        # A worker that dies is replaced, as gunicorn's arbiter did, instead of stopping the server.
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_KILL_TIMEOUT_S,
        working_dir=REPO,
    )


def main() -> None:
    # Relative paths in the environment (PROMETHEUS_MULTIPROC_DIR in the Procfile) start here.
    os.chdir(REPO)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        clear_multiprocess_metrics(directory)
    build_server().serve()


if __name__ == "__main__":
    main()
