from django.contrib import admin
from django.urls import include, path

from apps.health import views as health

urlpatterns = [
    path("api/", include("apps.api.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]
