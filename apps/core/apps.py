from django.apps import AppConfig
from django.core import signals
from django.core.cache import close_caches
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = _("RedGX core")

    def ready(self):
        # Django closes every cache after each request. django-redis keeps its connection pools
        # open unless DJANGO_REDIS_CLOSE_CONNECTION is set, so that is work for nothing.
        if not _caches_need_closing():
            signals.request_finished.disconnect(close_caches)


def _caches_need_closing() -> bool:
    from django.conf import settings

    return getattr(settings, "DJANGO_REDIS_CLOSE_CONNECTION", False) or any(
        "django_redis" not in cache["BACKEND"] or cache.get("OPTIONS", {}).get("CLOSE_CONNECTION")
        for cache in settings.CACHES.values()
    )
