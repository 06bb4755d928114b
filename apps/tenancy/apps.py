from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "apps.tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        from apps import audit

        from . import signals  # noqa: F401
        from .models import ApiKey, Grant, IpAllowlistEntry, Namespace, QuotaPolicy

        # Usage stamps change on every flush and are not administrative changes.
        audit.register(ApiKey, exclude=("digest", "last_used_at", "last_used_ip"))
        audit.register(Grant)
        audit.register(IpAllowlistEntry)
        audit.register(QuotaPolicy)
        audit.register(Namespace)
