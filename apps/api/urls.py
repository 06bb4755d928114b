from django.urls import include, path, re_path

from apps.adminapi.urls import metrics_urlpatterns
from apps.data.areas import AREAS
from apps.data.views import PipelineViewSet, area_viewset
from apps.inference.views import InferenceViewSet, JobViewSet
from apps.pubsub.views import PublishViewSet, TicketViewSet

from .views import api_not_found

# A namespace segment that is not a valid name still routes, so that the key's
# grants decide (403) rather than the router (404).
NS = r"^v1/ns/(?P<namespace>[^/]+)"

urlpatterns = []
for _name, _area in AREAS.items():
    if _area.key_operations:
        # The key is the rest of the path and may itself contain "/" or a newline.
        _view = area_viewset(_area, collection=False).as_operation_view()
        urlpatterns.append(re_path(rf"{NS}/{_name}/(?P<key>[\s\S]+)$", _view, name=_name))
    if _area.collection_operations:
        _view = area_viewset(_area, collection=True).as_operation_view()
        urlpatterns.append(re_path(rf"{NS}/{_name}/$", _view, name=f"{_name}-keys"))

urlpatterns += [
    re_path(rf"{NS}/pipeline$", PipelineViewSet.as_operation_view(), name="pipeline"),
    re_path(rf"{NS}/gpu/(?P<task>[a-z_]+)/(?P<req_id>[^/]+)$", JobViewSet.as_operation_view(), name="job"),
    re_path(rf"{NS}/gpu/(?P<task>[a-z_]+)$", InferenceViewSet.as_operation_view(), name="submit"),
    re_path(rf"{NS}/pubsub/(?P<channel>[\s\S]+)$", PublishViewSet.as_operation_view(), name="pubsub-publish"),
    re_path(rf"{NS}/ws-tickets$", TicketViewSet.as_operation_view(), name="ws-tickets"),
    path("v1/admin/", include(metrics_urlpatterns)),
    re_path(r"^(?P<path>[\s\S]*)$", api_not_found),
]
