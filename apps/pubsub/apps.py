from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PubSubConfig(AppConfig):
    name = "apps.pubsub"
    verbose_name = _("Pub/Sub")
