from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdminApiConfig(AppConfig):
    name = "apps.adminapi"
    verbose_name = _("Admin API")
