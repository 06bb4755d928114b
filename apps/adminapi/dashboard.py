"""The admin's inference dashboard: a page of live charts and the JSON it polls.

Both views need a logged-in staff user (the admin's session), not an API key. The page
loads uPlot and our script from static/, and the script polls ``data`` every
POLL_INTERVAL_MS. Labels that the script shows are rendered here, in the request's
language, into a JSON script element.
"""

import logging

import redis.exceptions
from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.api.envelope import error_response, success_body
from apps.inference import stats

from .metrics import collect_metrics

logger = logging.getLogger(__name__)

# One poll per stats bucket: polling faster shows no new bucket.
POLL_INTERVAL_MS = stats.BUCKET_S * 1000
DEFAULT_MINUTES = 10
# Periods offered on the page; the data view takes any whole number up to the retention.
MINUTE_CHOICES = (5, 10, 30, 60)


def chart_labels() -> dict:
    """Return the words the dashboard script shows, in the active language."""
    return {
        "statuses": {"done": _("done"), "failed": _("failed")},
        "rejections": {
            "queue_full": _("queue full"),
            "rate_limited": _("rate limited"),
            "inference_redis_full": _("inference Redis full"),
        },
        "circuits": {"closed": _("closed"), "open": _("open")},
        "time": _("time"),
        "no_data": _("No data in this period."),
        "updated": _("Updated at %(time)s"),
        "failed_to_load": _("Could not load the metrics: %(error)s"),
    }


@require_GET
def _dashboard(request):
    context = {
        **admin.site.each_context(request),
        "title": _("Inference dashboard"),
        "data_url": reverse("admin-dashboard-data"),
        "poll_interval_ms": POLL_INTERVAL_MS,
        "minutes": DEFAULT_MINUTES,
        "minute_choices": [choice for choice in MINUTE_CHOICES if choice * 60 <= settings.REDGX_STATS_RETENTION_S],
        "labels": chart_labels(),
    }
    return TemplateResponse(request, "admin/redgx/dashboard.html", context)


# admin_view sends anyone who is not active staff to the admin login page.
dashboard_view = admin.site.admin_view(_dashboard)


# never_cache: every poll must reach the server, whatever a proxy or the browser would cache.
@never_cache
@require_GET
def dashboard_data_view(request):
    """Return the metrics snapshot and the chart series, to staff users of the admin session."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return error_response(403, "staff_required", _("Log in to the admin as a staff user to read the metrics."))
    max_minutes = settings.REDGX_STATS_RETENTION_S // 60
    minutes = _minutes(request.GET.get("minutes"), max_minutes)
    if minutes is None:
        message = _("Invalid 'minutes': use a whole number from 1 to %(max)d.") % {"max": max_minutes}
        return error_response(400, "invalid", message)

    try:
        body = {"metrics": collect_metrics(), "series": stats.series(minutes)}
    except redis.exceptions.RedisError as exc:
        logger.warning("Dashboard metrics unavailable: %s", exc)
        return error_response(503, "redis_unavailable", _("Redis is unavailable. Retry later."))
    return JsonResponse(success_body(body), json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})


def _minutes(text: str | None, max_minutes: int) -> int | None:
    if text is None:
        return min(DEFAULT_MINUTES, max_minutes)
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= max_minutes else None
