import hashlib
import ipaddress
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
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


class QuotaPolicy(models.Model):
    """Request limits shared by the keys that point to it.

    An empty field falls back to the setting named in its help text. A key without a
    policy uses the default policy, or the settings alone when there is none.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    rate_per_s = models.FloatField(
        _("requests per second"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.001)],
        help_text=_("Sustained request rate per key. Empty: REDGX_RATE_PER_S."),
    )
    burst = models.PositiveIntegerField(
        _("burst"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Requests a key may send at once above the sustained rate. Empty: REDGX_RATE_BURST."),
    )
    max_request_bytes = models.PositiveIntegerField(
        _("max request bytes"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Largest request body in bytes. Empty: REDGX_MAX_BODY_BYTES."),
    )
    max_queued_jobs = models.PositiveIntegerField(
        _("max queued inference jobs"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Waiting inference jobs per task in a namespace above which this key's submits get 429. "
            "Empty: REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE."
        ),
    )
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("Applies to every key that has no policy of its own.")
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_quota_policy"
            )
        ]
        verbose_name = _("quota policy")
        verbose_name_plural = _("quota policies")

    def __str__(self) -> str:
        return self.name


# A key that expires sooner than this counts as "expiring", e.g. during a rotation overlap.
EXPIRING_WITHIN = timedelta(days=7)


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
    last_used_ip = models.GenericIPAddressField(_("last IP address"), null=True, blank=True, editable=False)
    quota_policy = models.ForeignKey(
        QuotaPolicy,
        verbose_name=_("quota policy"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_keys",
        help_text=_("Empty: the default policy, or the REDGX_* settings when there is none."),
    )
    rotated_from = models.ForeignKey(
        "self",
        verbose_name=_("rotated from"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="rotated_to",
    )

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

    def state(self, now: datetime | None = None) -> str:
        """Return "revoked", "expired", "expiring" (within EXPIRING_WITHIN) or "active"."""
        now = now or timezone.now()
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        if self.expires_at and self.expires_at <= now + EXPIRING_WITHIN:
            return "expiring"
        return "active"


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


def normalize_network(value: str) -> str:
    """Return the canonical text of an IPv4 or IPv6 network. A bare address becomes a /32 or /128.

    Host bits must be zero (strict), so "10.0.0.1/24" is rejected rather than silently widened.
    """
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=True))
    except ValueError as exc:
        raise ValidationError(
            _("Invalid network '%(value)s': %(error)s. Use CIDR notation such as 10.0.0.0/24 or 2001:db8::/32."),
            code="invalid_network",
            params={"value": value, "error": exc},
        ) from exc


class IpAllowlistEntry(models.Model):
    """A network that may use one API key, or every key in one namespace.

    A key or namespace without entries accepts any address. With entries, a request
    must come from one of them.
    """

    network = models.CharField(
        _("network"),
        max_length=43,
        validators=[normalize_network],
        help_text=_("IPv4 or IPv6 network in CIDR notation such as 10.0.0.0/24, or one address."),
    )
    api_key = models.ForeignKey(
        ApiKey,
        verbose_name=_("API key"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="allowlist",
    )
    namespace = models.ForeignKey(
        Namespace,
        verbose_name=_("namespace"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="allowlist",
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["network"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(api_key__isnull=False) & models.Q(namespace__isnull=True))
                | (models.Q(api_key__isnull=True) & models.Q(namespace__isnull=False)),
                name="allowlist_entry_has_one_owner",
                violation_error_message=_("An allowlist entry belongs to either one API key or one namespace."),
            ),
            models.UniqueConstraint(fields=["api_key", "network"], name="unique_network_per_key"),
            models.UniqueConstraint(fields=["namespace", "network"], name="unique_network_per_namespace"),
        ]
        verbose_name = _("IP allowlist entry")
        verbose_name_plural = _("IP allowlist entries")

    def __str__(self) -> str:
        if self.api_key_id:
            return f"{self.network} → {self.api_key.prefix}"
        if self.namespace_id:
            return f"{self.network} → {self.namespace.name}"
        return self.network

    def save(self, *args, **kwargs) -> None:
        # Normalised here too, so rows created outside forms compare equal to admin-made ones.
        self.network = normalize_network(self.network)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        if self.network:
            self.network = normalize_network(self.network)

    @property
    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.network)
