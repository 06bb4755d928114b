"""Routes under /api/v1/admin/, for keys with the admin grant."""

from django.urls import path

from . import views
from .clients import ClientsView

urlpatterns = [
    path("keys", views.KeyListView.as_view(), name="admin-keys"),
    path("keys/<str:prefix>", views.KeyDetailView.as_view(), name="admin-key"),
    path("keys/<str:prefix>/rotate", views.KeyRotateView.as_view(), name="admin-key-rotate"),
    path("keys/<str:prefix>/revoke", views.KeyRevokeView.as_view(), name="admin-key-revoke"),
    path("clients", ClientsView.as_view(), name="admin-clients"),
]
