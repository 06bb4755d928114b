import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .csv_export import export_as_csv
from .models import AuditEntry
from .readonly import ReadOnlyAdminMixin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only for everyone, superusers included: rows are written only by the recorder."""

    list_display = ["created_at", "actor", "actor_kind", "source_address", "action", "object_type", "object_repr"]
    list_filter = ["created_at", "action", "actor_kind", "object_type", "actor"]
    search_fields = ["actor", "object_repr", "object_id", "object_type", "source_address"]
    date_hierarchy = "created_at"
    actions = [export_as_csv]
    fields = [
        "created_at",
        "actor",
        "actor_kind",
        "source_address",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before_json",
        "after_json",
    ]
    readonly_fields = fields

    @admin.display(description=_("before"))
    def before_json(self, entry: AuditEntry) -> str:
        return self._pretty(entry.before)

    @admin.display(description=_("after"))
    def after_json(self, entry: AuditEntry) -> str:
        return self._pretty(entry.after)

    @staticmethod
    def _pretty(value) -> str:
        if value is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))
