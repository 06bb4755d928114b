from django.db import models
from django.utils.translation import gettext_lazy as _


class Transport(models.TextChoices):
    REST = "rest", _("REST")
    WEBSOCKET = "websocket", _("WebSocket")


class AccessRecord(models.Model):
    """One API request or one WebSocket connection, written in batches by apps.access.buffer.

    Rows carry the key's public prefix, never the key. ``status`` is the HTTP status for
    REST and the close code for WebSocket connections (4401, 4403, 1000, ...).
    """

    time = models.DateTimeField(_("time"), db_index=True)
    key_prefix = models.CharField(_("key prefix"), max_length=16, blank=True)
    namespace = models.CharField(_("namespace"), max_length=63, blank=True)
    area = models.CharField(_("area"), max_length=32, blank=True)
    action = models.CharField(_("action"), max_length=32, blank=True)
    status = models.PositiveIntegerField(_("status"))
    client_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    duration_ms = models.FloatField(_("duration (ms)"))
    transport = models.CharField(_("transport"), max_length=16, choices=Transport.choices)

    class Meta:
        ordering = ["-time"]
        indexes = [models.Index(fields=["key_prefix", "time"], name="access_key_prefix_time")]
        verbose_name = _("access record")
        verbose_name_plural = _("access history")

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.key_prefix or '-'} {self.area}.{self.action} {self.status}"
