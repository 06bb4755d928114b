from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .keys import generate_plain_key
from .models import ApiKey, Grant, Namespace


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "key_count", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(key_count=Count("grants"))

    @admin.display(description=_("keys"), ordering="key_count")
    def key_count(self, namespace: Namespace) -> int:
        return namespace.key_count


class GrantInline(admin.TabularInline):
    model = Grant
    extra = 1
    autocomplete_fields = ["namespace"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "state", "expires_at", "last_used_at", "created_at", "created_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "revoked_at", "last_used_at"]
    fields = ["name", "expires_at", "prefix", "created_at", "created_by", "revoked_at", "last_used_at"]
    inlines = [GrantInline]
    actions = ["revoke_selected"]

    @admin.display(description=_("state"))
    def state(self, api_key: ApiKey) -> str:
        if api_key.revoked_at:
            return _("revoked")
        if api_key.expires_at and api_key.expires_at <= timezone.now():
            return _("expired")
        return _("active")

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if not change:
            obj.prefix, plain_key = generate_plain_key()
            obj.digest = ApiKey.digest_of(plain_key)
            obj.created_by = request.user
            messages.warning(
                request,
                _("New API key: %(key)s. Copy it now: it is stored only as a hash and will not be shown again.")
                % {"key": plain_key},
            )
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key.revoked_at = timezone.now()
            # save() rather than update(), so the cache invalidation signal fires.
            api_key.save(update_fields=["revoked_at"])
            revoked += 1
        self.message_user(
            request,
            ngettext("Revoked %(count)d API key.", "Revoked %(count)d API keys.", revoked) % {"count": revoked},
        )
