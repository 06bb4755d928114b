from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .envelope import error_response


@csrf_exempt
def api_not_found(request, path: str = ""):
    """Fallback for any /api/ path that no route matches."""
    return error_response(404, "route_not_found", _("No API route matches this path."))
