import hashlib
import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Namespace names go into data key prefixes as "ns:{<name>}:" and channel names as
# "ns:<name>:", so they may not contain ":", "{", "}" or anything else that would let one
# prefix run into another.
NAMESPACE_NAME_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
namespace_name_validator = RegexValidator(
    regex=rf"^{NAMESPACE_NAME_PATTERN}\Z",
    message=_("Use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit."),
    flags=re.ASCII,
)


class Namespace(models.Model):
    """An isolated slice of the data Redis and of the inference outbox."""

    name = models.CharField(_("name"), max_length=63, unique=True, validators=[namespace_name_validator])
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("namespace")
        verbose_name_plural = _("namespaces")

    def __str__(self) -> str:
        return self.name


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        """Keys that are not revoked and not past their expiry."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A client credential. Only the SHA-256 digest of the secret is stored.

    The plain key has the form ``rgx_<prefix>_<secret>``. The prefix is public and
    identifies the key in lists and logs. The secret never leaves the response that
    created it.
    """

    name = models.CharField(_("name"), max_length=100, help_text=_("What the key is for, e.g. the client service."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Leave empty for a key that does not expire.")
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    is_admin = models.BooleanField(
        _("admin grant"),
        default=False,
        help_text=_("Lets the key use the admin API area: keys, metrics and clients."),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @staticmethod
    def digest_of(plain_key: str) -> str:
        # The secret carries 256 random bits, so a fast unsalted hash is enough:
        # there is nothing to brute-force, and lookups stay a single indexed query.
        return hashlib.sha256(plain_key.encode()).hexdigest()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Grant(models.Model):
    """The permissions of one API key in one namespace."""

    api_key = models.ForeignKey(ApiKey, verbose_name=_("API key"), on_delete=models.CASCADE, related_name="grants")
    namespace = models.ForeignKey(
        Namespace, verbose_name=_("namespace"), on_delete=models.CASCADE, related_name="grants"
    )
    can_read = models.BooleanField(_("read"), default=True)
    can_write = models.BooleanField(_("write"), default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "namespace"], name="unique_grant_per_namespace")]
        verbose_name = _("grant")
        verbose_name_plural = _("grants")

    def __str__(self) -> str:
        permissions = [name for name, allowed in (("read", self.can_read), ("write", self.can_write)) if allowed]
        return f"{self.api_key.prefix} → {self.namespace.name}: {','.join(permissions) or '-'}"
