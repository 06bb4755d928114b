from django.contrib import admin

from .models import EngineEndpoint


@admin.register(EngineEndpoint)
class EngineEndpointAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "task",
        "protocol",
        "base_url",
        "model",
        "batch_size",
        "max_wait_ms",
        "max_concurrent_calls",
        "timeout_s",
        "enabled",
        "updated_at",
    ]
    list_filter = ["task", "protocol", "enabled"]
    search_fields = ["name", "base_url", "model"]
    readonly_fields = ["updated_at"]
