from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.audit.csv_export import export_as_csv

from .keys import KeyNotRotatable, NewApiKey, generate_plain_key, rotate_api_key
from .models import EXPIRING_WITHIN, ApiKey, Grant, IpAllowlistEntry, Namespace, QuotaPolicy

# Request attribute that carries a new plain key from save_model to response_add,
# so that it is rendered once and never stored in the session, a message or a URL.
NEW_KEY_ATTRIBUTE = "_redgx_new_api_key"


STATE_LABELS = {
    "active": _("active"),
    "expiring": _("expiring"),
    "expired": _("expired"),
    "revoked": _("revoked"),
}


def _no_store(response):
    # Pages that show a plain key must not be kept by the browser or a proxy cache.
    response["Cache-Control"] = "no-store"
    return response


class NamespaceAllowlistInline(admin.TabularInline):
    model = IpAllowlistEntry
    fk_name = "namespace"
    fields = ["network", "description"]
    extra = 0
    verbose_name_plural = _("IP allowlist (empty: any address)")


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "key_count", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at"]
    inlines = [NamespaceAllowlistInline]
    actions = [export_as_csv]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(key_count=Count("grants", distinct=True))

    @admin.display(description=_("keys"), ordering="key_count")
    def key_count(self, namespace: Namespace) -> int:
        return namespace.key_count


class GrantInline(admin.TabularInline):
    model = Grant
    extra = 1
    autocomplete_fields = ["namespace"]


class KeyAllowlistInline(admin.TabularInline):
    model = IpAllowlistEntry
    fk_name = "api_key"
    fields = ["network", "description"]
    extra = 0
    verbose_name_plural = _("IP allowlist (empty: any address)")


class KeyStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return list(STATE_LABELS.items())

    def queryset(self, request, queryset):
        now = timezone.now()
        state = self.value()
        if state == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        unrevoked = queryset.filter(revoked_at__isnull=True)
        if state == "expired":
            return unrevoked.filter(expires_at__lte=now)
        if state == "expiring":
            return unrevoked.filter(expires_at__gt=now, expires_at__lte=now + EXPIRING_WITHIN)
        if state == "active":
            return unrevoked.exclude(expires_at__lte=now + EXPIRING_WITHIN)
        return queryset


class RotateForm(forms.Form):
    overlap_s = forms.IntegerField(
        label=_("overlap (seconds)"),
        min_value=0,
        max_value=90 * 24 * 3600,
        initial=3600,
        help_text=_("How long the old key keeps working after rotation. 0 revokes it at once."),
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "namespace_list",
        "is_admin",
        "state",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "quota_policy",
    ]
    list_filter = [KeyStateFilter, "grants__namespace", "is_admin", "quota_policy"]
    list_select_related = ["quota_policy"]
    search_fields = ["name", "prefix"]
    readonly_fields = [
        "prefix",
        "created_at",
        "created_by",
        "revoked_at",
        "last_used_at",
        "last_used_ip",
        "rotated_from",
    ]
    fields = [
        "name",
        "is_admin",
        "quota_policy",
        "expires_at",
        "prefix",
        "created_at",
        "created_by",
        "rotated_from",
        "revoked_at",
        "last_used_at",
        "last_used_ip",
    ]
    inlines = [GrantInline, KeyAllowlistInline]
    actions = ["revoke_selected", "rotate_selected", export_as_csv]
    csv_exclude = ["digest"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("grants__namespace")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The namespace filter joins grants, so one key could be listed once per grant.
        return queryset.distinct(), may_have_duplicates

    @admin.display(description=_("namespaces"))
    def namespace_list(self, api_key: ApiKey) -> str:
        return ", ".join(sorted(grant.namespace.name for grant in api_key.grants.all())) or "-"

    @admin.display(description=_("state"))
    def state(self, api_key: ApiKey) -> str:
        return STATE_LABELS[api_key.state()]

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if not change:
            obj.prefix, plain_key = generate_plain_key()
            obj.digest = ApiKey.digest_of(plain_key)
            obj.created_by = request.user
            setattr(request, NEW_KEY_ATTRIBUTE, NewApiKey(api_key=obj, plain_key=plain_key))
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj: ApiKey, post_url_continue=None):
        new_key = getattr(request, NEW_KEY_ATTRIBUTE, None)
        if new_key is None:
            return super().response_add(request, obj, post_url_continue)
        # Rendered directly instead of redirecting, so the plain key never has to be kept
        # anywhere between two requests.
        return self._show_new_keys(request, [new_key], _("API key created"))

    def _show_new_keys(self, request, new_keys: list[NewApiKey], title: str, old_keys=()):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "new_keys": new_keys,
            "old_keys": old_keys,
        }
        return _no_store(TemplateResponse(request, "admin/tenancy/apikey/new_keys.html", context))

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key.revoked_at = timezone.now()
            # save() rather than update(), so the cache invalidation and audit signals fire.
            api_key.save(update_fields=["revoked_at"])
            revoked += 1
        self.message_user(
            request,
            ngettext("Revoked %(count)d API key.", "Revoked %(count)d API keys.", revoked) % {"count": revoked},
        )

    @admin.action(description=_("Rotate selected API keys"), permissions=["change"])
    def rotate_selected(self, request, queryset):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RotateForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Rotate API keys"),
                "form": form,
                "keys": queryset,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/tenancy/apikey/rotate.html", context)

        new_keys, skipped = [], []
        for api_key in queryset:
            try:
                new_keys.append(rotate_api_key(api_key, form.cleaned_data["overlap_s"], created_by=request.user))
            except KeyNotRotatable:
                skipped.append(api_key)
        if skipped:
            self.message_user(
                request,
                _("Skipped revoked keys: %(prefixes)s") % {"prefixes": ", ".join(key.prefix for key in skipped)},
            )
        if not new_keys:
            return None
        return self._show_new_keys(request, new_keys, _("API keys rotated"))


@admin.register(QuotaPolicy)
class QuotaPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "rate_per_s",
        "burst",
        "max_request_bytes",
        "max_queued_jobs",
        "is_default",
        "key_count",
    ]
    list_filter = ["is_default"]
    search_fields = ["name"]
    actions = [export_as_csv]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(key_count=Count("api_keys"))

    @admin.display(description=_("keys"), ordering="key_count")
    def key_count(self, policy: QuotaPolicy) -> int:
        return policy.key_count


@admin.register(IpAllowlistEntry)
class IpAllowlistEntryAdmin(admin.ModelAdmin):
    list_display = ["network", "api_key", "namespace", "description", "created_at"]
    list_filter = ["namespace"]
    list_select_related = ["api_key", "namespace"]
    search_fields = ["network", "description", "api_key__prefix", "api_key__name", "namespace__name"]
    autocomplete_fields = ["api_key", "namespace"]
    readonly_fields = ["created_at"]
    actions = [export_as_csv]
