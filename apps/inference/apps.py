from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InferenceConfig(AppConfig):
    name = "apps.inference"
    verbose_name = _("Inference")

    def ready(self) -> None:
        # Actors bind to the global broker when their module is imported, so the
        # broker is set first.
        from .broker import setup_broker

        setup_broker()
        from . import tasks  # noqa: F401
