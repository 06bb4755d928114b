from django.contrib import admin
from django.urls import include, path

from apps.api import docs_urls
from apps.health import views as health

urlpatterns = [
    path("docs/", include(docs_urls.urlpatterns)),
    path("api/", include("apps.api.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]
