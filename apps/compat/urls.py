from django.urls import re_path

from .views import CommandView, MultiExecView, PipelineView, compat_not_found

# Mounted at /compat/upstash/. A namespace segment that is not a valid name still routes,
# so that the key's grants decide (403) rather than the router (404).
NS = r"^ns/(?P<namespace>[^/]+)"

urlpatterns = [
    re_path(rf"{NS}/?$", CommandView.as_view(), name="upstash-command"),
    re_path(rf"{NS}/pipeline$", PipelineView.as_view(), name="upstash-pipeline"),
    re_path(rf"{NS}/multi-exec$", MultiExecView.as_view(), name="upstash-multi-exec"),
    # The command and its arguments may contain encoded "/" or newlines.
    re_path(rf"{NS}/(?P<path>[\s\S]+)$", CommandView.as_view(), name="upstash-path-command"),
    re_path(r"^(?P<path>[\s\S]*)$", compat_not_found),
]
