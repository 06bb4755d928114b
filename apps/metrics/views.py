from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from .access import may_scrape
from .collectors import InferenceStateCollector
from .exposition import render

_state = InferenceStateCollector()


@never_cache
@require_GET
def metrics(request):
    """Serve Prometheus metrics to allowed addresses; anyone else gets 404, as if the route did not exist."""
    if not may_scrape(request.META):
        raise Http404
    return HttpResponse(render(_state), content_type=CONTENT_TYPE_LATEST)
