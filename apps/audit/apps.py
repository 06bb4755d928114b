from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "apps.audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from .auditors import sync_auditor_permissions

        # Apps migrated after the auditors migration (access history) get their view
        # permissions added here.
        post_migrate.connect(sync_auditor_permissions, dispatch_uid="audit.sync_auditor_permissions")
