"""Liveness and readiness probes.

/readyz is 503 when PostgreSQL or either Redis is down. An engine that is down
makes it "degraded" but still 200, because the gateway keeps accepting and queueing
jobs meanwhile; ``?strict=1`` counts engines too.
"""

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.api.envelope import success_body

from .checks import core_checks, engine_checks


@require_GET
def healthz(request):
    return JsonResponse(success_body({"status": "alive"}), json_dumps_params={"separators": (",", ":")})


@require_GET
def readyz(request):
    core = core_checks()
    engines = engine_checks()
    core_ok = all(check["ok"] for check in core.values())
    engines_ok = all(check["ok"] for check in engines.values())
    strict = request.GET.get("strict") in {"1", "true", "yes"}

    if not core_ok:
        state = "not_ready"
    elif not engines_ok:
        state = "degraded"
    else:
        state = "ready"
    ready = core_ok and (engines_ok or not strict)
    body = success_body({"status": state, "checks": {**core, **engines}})
    if not ready:
        body = {
            "ok": False,
            "error": {"code": "not_ready", "message": _("A dependency is down.")},
            "data": body["data"],
        }
    return JsonResponse(body, status=200 if ready else 503)
