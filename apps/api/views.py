from django.utils.translation import gettext as _

from .envelope import error_response


def api_not_found(request, path: str = ""):
    """Fallback for any /api/ path that no route matches."""
    return error_response(404, "route_not_found", _("No API route matches this path."))
