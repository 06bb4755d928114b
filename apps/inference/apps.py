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
        from apps import audit

        from . import tasks  # noqa: F401
        from .models import EngineEndpoint

        # Engine endpoint changes go to the audit trail like key changes; the row has no secrets.
        audit.register(EngineEndpoint, exclude=("updated_at",))
