"""Routes under /api/v1/admin/ for keys with the admin grant, and the staff dashboard's routes."""

from django.urls import path

from . import views
from .clients import ClientsView
from .dashboard import dashboard_data_view, dashboard_view
from .metrics import MetricsView

# Mounted under /api/v1/admin/.
urlpatterns = [
    path("keys", views.KeyListView.as_view(), name="admin-keys"),
    path("keys/<str:prefix>", views.KeyDetailView.as_view(), name="admin-key"),
    path("keys/<str:prefix>/rotate", views.KeyRotateView.as_view(), name="admin-key-rotate"),
    path("keys/<str:prefix>/revoke", views.KeyRevokeView.as_view(), name="admin-key-revoke"),
    path("clients", ClientsView.as_view(), name="admin-clients"),
    path("metrics", MetricsView.as_view(), name="admin-metrics"),
]

# Mounted under /admin/dashboard/, before the admin site's own routes.
dashboard_urlpatterns = [
    path("", dashboard_view, name="admin-dashboard"),
    path("data", dashboard_data_view, name="admin-dashboard-data"),
]
