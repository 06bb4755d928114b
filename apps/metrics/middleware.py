from .views import metrics

METRICS_PATH = "/metrics"


class MetricsMiddleware:
    """Serve /metrics before CommonMiddleware checks the Host header against ALLOWED_HOSTS.

    Prometheus scrapes each replica by address, so the Host header contains an IP and port
    that ALLOWED_HOSTS does not list. The view checks the client's address instead.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == METRICS_PATH:
            return metrics(request)
        return self.get_response(request)
