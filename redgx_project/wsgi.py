"""WSGI entry point: the REST API is served by granian with threads (deploy/web.py, docs/benchmarks.md)."""

import atexit
import gc
import multiprocessing
import multiprocessing.util
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")

application = get_wsgi_application()

# What loading Django and the apps created lives as long as the process. Frozen, it is left
# out of every later collection, so a full collection no longer scans it and stalls requests.
gc.freeze()

if multiprocessing.parent_process() is not None:
    # granian's workers are multiprocessing children, which end with os._exit() and so skip
    # atexit handlers, among them the last flush of the access history. multiprocessing runs
    # its finalizers before that exit.
    multiprocessing.util.Finalize(None, atexit._run_exitfuncs, exitpriority=0)
