import os

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    verbose_name = _("Metrics")

    def ready(self) -> None:
        # An invalid network in the settings stops the process at start, not at the first scrape.
        from .access import allowed_networks
        from .exposition import multiprocess_dir

        allowed_networks()
        # prometheus_client writes into the directory but does not create it.
        directory = multiprocess_dir()
        if directory:
            os.makedirs(directory, exist_ok=True)
