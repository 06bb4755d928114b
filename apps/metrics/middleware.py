import time

from . import http
from .views import metrics

METRICS_PATH = "/metrics"


class MetricsMiddleware:
    """Serve /metrics, and record the request metrics of every other request.

    /metrics is served before CommonMiddleware checks the Host header against ALLOWED_HOSTS,
    because Prometheus scrapes each replica by address, so the Host header contains an IP and
    port that ALLOWED_HOSTS does not list. The view checks the client's address instead.

    This one middleware, first in MIDDLEWARE, replaces django-prometheus's Before and After
    pair; apps.metrics.http lists the metrics it keeps and why.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == METRICS_PATH:
            return metrics(request)
        started = time.perf_counter()
        response = self.get_response(request)
        http.request_finished(request, response.status_code, started)
        return response

    def process_exception(self, request, exception):
        http.exception_raised(request, exception)
        return None
