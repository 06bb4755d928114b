from django.urls import path

from .dashboard import dashboard_data_view, dashboard_view
from .metrics import MetricsView

# Mounted under /api/v1/admin/. Each feature keeps its own list, so lists from several
# branches merge by concatenation.
metrics_urlpatterns = [
    path("metrics", MetricsView.as_view(), name="admin-metrics"),
]

# Mounted under /admin/dashboard/, before the admin site's own routes.
dashboard_urlpatterns = [
    path("", dashboard_view, name="admin-dashboard"),
    path("data", dashboard_data_view, name="admin-dashboard-data"),
]

urlpatterns = [*metrics_urlpatterns]
