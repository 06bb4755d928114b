from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompatConfig(AppConfig):
    name = "apps.compat"
    verbose_name = _("Upstash-compatible REST API")
