"""Routes of the API documentation: the OpenAPI schema and Swagger UI, both served offline.

Mounted at ``/docs/`` rather than under ``/api/``, where every unknown path returns the
``route_not_found`` envelope.
"""

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView, SpectacularYAMLAPIView

urlpatterns = [
    path("", SpectacularSwaggerView.as_view(url_name="openapi-json"), name="swagger-ui"),
    path("schema.json", SpectacularJSONAPIView.as_view(), name="openapi-json"),
    path("schema.yaml", SpectacularYAMLAPIView.as_view(), name="openapi-yaml"),
]
