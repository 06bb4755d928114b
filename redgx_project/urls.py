from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from apps.adminapi.urls import dashboard_urlpatterns
from apps.api import docs_urls
from apps.health import views as health

admin.site.site_header = _("RedGX administration")
admin.site.site_title = _("RedGX admin")

urlpatterns = [
    # The start page a browser lands on is the interactive API documentation.
    path("", RedirectView.as_view(url="/docs/", permanent=False)),
    path("docs", RedirectView.as_view(url="/docs/", permanent=False)),
    path("docs/", include(docs_urls.urlpatterns)),
    # Before "api/", whose last route returns 404 for every unmatched /api/ path.
    path("api/v1/admin/", include("apps.adminapi.urls")),
    path("api/", include("apps.api.urls")),
    # Upstash REST protocol per namespace, for the upstash-redis SDKs (docs/upstash.md).
    path("compat/upstash/", include("apps.compat.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/dashboard/", include(dashboard_urlpatterns)),
    path("admin/", admin.site.urls),
    # set_language at /i18n/setlang/: the admin's language switcher posts here.
    path("i18n/", include("django.conf.urls.i18n")),
]
