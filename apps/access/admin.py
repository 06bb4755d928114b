from django.contrib import admin

from apps.audit.csv_export import export_as_csv
from apps.audit.readonly import ReadOnlyAdminMixin

from .models import AccessRecord


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only for everyone, auditors included: rows come only from the gateway itself."""

    list_display = [
        "time",
        "key_prefix",
        "namespace",
        "area",
        "action",
        "status",
        "client_address",
        "duration_ms",
        "transport",
    ]
    list_filter = ["transport", "area", "status", "time"]
    search_fields = ["key_prefix", "namespace", "client_address"]
    date_hierarchy = "time"
    actions = [export_as_csv]
    # Counting a large history on every page view is slow, so the paginator skips the full count.
    show_full_result_count = False
