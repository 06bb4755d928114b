"""The engine registry: which HTTP engine serves each inference task, editable in the admin."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from .engines.registry import TASK_PROTOCOLS, EngineConfig, bump_version, task_protocols

TASK_CHOICES = [
    ("embed", _("Embeddings")),
    ("generate", _("Text generation")),
    ("translate", _("Translation")),
    ("stt", _("Speech to text")),
    ("ocr", _("Text recognition (OCR)")),
]
PROTOCOL_CHOICES = [
    ("tei", _("Hugging Face TEI (POST /embed)")),
    ("openai_completions", _("OpenAI completions (POST /v1/completions)")),
    ("openai_chat", _("OpenAI chat completions (POST /v1/chat/completions)")),
    ("openai_transcriptions", _("OpenAI transcriptions (POST /v1/audio/transcriptions)")),
    ("redgx_translate", _("RedGX translation (POST /translate)")),
    ("redgx_ocr", _("RedGX OCR (POST /ocr)")),
]
assert {task for task, _label in TASK_CHOICES} == set(TASK_PROTOCOLS)


class EngineEndpoint(models.Model):
    name = models.SlugField(
        _("name"),
        max_length=64,
        unique=True,
        help_text=_("Unique name, used in logs, metrics and the circuit breaker."),
    )
    task = models.CharField(_("task"), max_length=16, choices=TASK_CHOICES)
    base_url = models.CharField(
        _("base URL"),
        max_length=300,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("The engine's address without a path, for example http://10.0.0.5:8080."),
    )
    protocol = models.CharField(_("protocol"), max_length=32, choices=PROTOCOL_CHOICES)
    model = models.CharField(
        _("model"),
        max_length=200,
        blank=True,
        help_text=_("Model name sent to engines that serve several; requests that name a model go to its engine."),
    )
    batch_size = models.PositiveIntegerField(
        _("batch size"), default=32, validators=[MinValueValidator(1)], help_text=_("Items per engine call at most.")
    )
    max_wait_ms = models.PositiveIntegerField(
        _("max wait (ms)"),
        default=20,
        help_text=_("Milliseconds the first item of a batch waits for others while a call is in flight."),
    )
    max_concurrent_calls = models.PositiveIntegerField(
        _("max concurrent calls"),
        default=2,
        validators=[MinValueValidator(1)],
        help_text=_("Engine calls one worker process runs at once."),
    )
    connect_timeout_s = models.FloatField(
        _("connect timeout (s)"), default=5.0, validators=[MinValueValidator(0.1)], help_text=_("Seconds.")
    )
    timeout_s = models.FloatField(
        _("timeout (s)"),
        default=30.0,
        validators=[MinValueValidator(0.1)],
        help_text=_("Seconds to wait for the engine's answer to one request."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("engine endpoint")
        verbose_name_plural = _("engine endpoints")
        ordering = ["task", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.base_url:
            self.base_url = self.base_url.rstrip("/")
        allowed = task_protocols(self.task)
        if self.task and self.protocol and self.protocol not in allowed:
            raise ValidationError(
                {
                    "protocol": _("Protocol %(protocol)s cannot serve task %(task)s. Use one of: %(allowed)s.")
                    % {"protocol": self.protocol, "task": self.task, "allowed": ", ".join(allowed)}
                }
            )

    def to_config(self) -> EngineConfig:
        return EngineConfig(
            name=self.name,
            task=self.task,
            base_url=self.base_url.rstrip("/"),
            protocol=self.protocol,
            model=self.model,
            batch_size=self.batch_size,
            max_wait_ms=self.max_wait_ms,
            max_concurrent_calls=self.max_concurrent_calls,
            connect_timeout_s=self.connect_timeout_s,
            timeout_s=self.timeout_s,
        )


@receiver([post_save, post_delete], sender=EngineEndpoint)
def _announce_registry_change(sender, **kwargs) -> None:
    # After commit, so a worker that reloads at once reads the new rows.
    transaction.on_commit(bump_version)
