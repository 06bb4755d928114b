"""Request metrics under django-prometheus's names, recorded by apps.metrics.middleware.

Only the families that the Grafana dashboard, the alert rules, docs/operations.md and the
tests use are kept, plus the exception counters, which cost nothing on a normal request. Names,
labels, help texts and latency buckets are those of django-prometheus 2.5.0
(django_prometheus/middleware.py), so dashboards written for it keep working.

django-prometheus's own middleware pair updated 16 values per request, each a write
to a file in PROMETHEUS_MULTIPROC_DIR. This module updates five.
"""

import time

from django_prometheus.conf import NAMESPACE, PROMETHEUS_LATENCY_BUCKETS
from prometheus_client import Counter, Histogram

REQUESTS_BY_METHOD = Counter(
    "django_http_requests_total_by_method",
    "Count of requests by method.",
    ["method"],
    namespace=NAMESPACE,
)
REQUESTS_BY_VIEW_TRANSPORT_METHOD = Counter(
    "django_http_requests_total_by_view_transport_method",
    "Count of requests by view, transport, method.",
    ["view", "transport", "method"],
    namespace=NAMESPACE,
)
RESPONSES_BY_STATUS_VIEW_METHOD = Counter(
    "django_http_responses_total_by_status_view_method",
    "Count of responses by status, view, method.",
    ["status", "view", "method"],
    namespace=NAMESPACE,
)
LATENCY_BY_VIEW_METHOD = Histogram(
    "django_http_requests_latency_seconds_by_view_method",
    "Histogram of request processing time labelled by view.",
    ["view", "method"],
    buckets=PROMETHEUS_LATENCY_BUCKETS,
    namespace=NAMESPACE,
)
EXCEPTIONS_BY_TYPE = Counter(
    "django_http_exceptions_total_by_type",
    "Count of exceptions by object type.",
    ["type"],
    namespace=NAMESPACE,
)
EXCEPTIONS_BY_VIEW = Counter(
    "django_http_exceptions_total_by_view",
    "Count of exceptions by view.",
    ["view"],
    namespace=NAMESPACE,
)

# Any other method becomes one label value, so clients cannot create label sets at will.
KNOWN_METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"])
INVALID_METHOD = "<invalid method>"
UNNAMED_VIEW = "<unnamed view>"

# (view, transport, method, status) -> the labelled children that one request updates.
# Views come from the URL patterns and methods from KNOWN_METHODS, so the dict stays small.
_children: dict[tuple[str, str, str, str], tuple] = {}


def method_label(request) -> str:
    return request.method if request.method in KNOWN_METHODS else INVALID_METHOD


def view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name is None:
        return UNNAMED_VIEW
    return match.view_name


def request_finished(request, status: int, started: float) -> None:
    """Count one response and observe its latency; ``started`` is a ``time.perf_counter()`` value.

    The latency runs from the first middleware to the response, so unlike django-prometheus's
    (which starts at its last middleware) it includes the middleware chain.
    """
    view, method = view_label(request), method_label(request)
    labels = (view, "https" if request.is_secure() else "http", method, str(status))
    children = _children.get(labels)
    if children is None:
        children = _children[labels] = _labelled_children(*labels)
    by_method, by_view, by_status, latency = children
    by_method.inc()
    if by_view is not None:
        by_view.inc()
    by_status.inc()
    latency.observe(time.perf_counter() - started)


def exception_raised(request, exception: Exception) -> None:
    EXCEPTIONS_BY_TYPE.labels(type=type(exception).__name__).inc()
    view = view_label(request)
    if view != UNNAMED_VIEW:
        EXCEPTIONS_BY_VIEW.labels(view=view).inc()


def _labelled_children(view: str, transport: str, method: str, status: str) -> tuple:
    # django-prometheus counts requests by view in process_view, which runs only for a
    # resolved view. A child is not created for the others, because in multiprocess mode
    # creating one already exports a zero sample.
    by_view = None
    if view != UNNAMED_VIEW:
        by_view = REQUESTS_BY_VIEW_TRANSPORT_METHOD.labels(view=view, transport=transport, method=method)
    return (
        REQUESTS_BY_METHOD.labels(method=method),
        by_view,
        RESPONSES_BY_STATUS_VIEW_METHOD.labels(status=status, view=view, method=method),
        LATENCY_BY_VIEW_METHOD.labels(view=view, method=method),
    )
