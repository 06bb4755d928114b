"""Creating and rotating API keys. The plain key exists only in the return value of
create_api_key and rotate_api_key."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.audit.context import audit_action
from apps.audit.models import AuditAction

from .models import ApiKey, Grant, IpAllowlistEntry, Namespace, namespace_name_validator
from .permissions import Permission

logger = logging.getLogger(__name__)

KEY_SCHEME = "rgx"
# Plain keys are well under this; anything longer is rejected before hashing.
MAX_PLAIN_KEY_LENGTH = 128


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    plain_key: str


def generate_plain_key() -> tuple[str, str]:
    """Return ``(prefix, plain_key)`` with 256 random bits in the secret part."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def create_api_key(
    name: str,
    grants: dict[str, set[Permission]],
    *,
    expires_at: datetime | None = None,
    created_by=None,
    create_namespaces: bool = False,
    is_admin: bool = False,
) -> NewApiKey:
    """Create a key with grants per namespace name; namespaces must exist unless create_namespaces."""
    prefix, plain_key = generate_plain_key()
    api_key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        digest=ApiKey.digest_of(plain_key),
        expires_at=expires_at,
        created_by=created_by,
        is_admin=is_admin,
    )
    for namespace_name, permissions in grants.items():
        if create_namespaces:
            namespace_name_validator(namespace_name)
            namespace, created = Namespace.objects.get_or_create(name=namespace_name)
            if created:
                logger.info("Namespace %s created", namespace_name)
        else:
            namespace = Namespace.objects.get(name=namespace_name)
        Grant.objects.create(
            api_key=api_key,
            namespace=namespace,
            can_read=Permission.READ in permissions,
            can_write=Permission.WRITE in permissions,
        )
    logger.info("API key %s created with grants on %s", prefix, ", ".join(sorted(grants)))
    return NewApiKey(api_key=api_key, plain_key=plain_key)


class KeyNotRotatable(ValueError):
    """Raised for a key that is already revoked."""


@transaction.atomic
def rotate_api_key(api_key: ApiKey, overlap_s: int, *, created_by=None) -> NewApiKey:
    """Replace a key with a new one that has the same grants, allowlist, quota policy and admin grant.

    The old key keeps working for ``overlap_s`` seconds (0 revokes it now), so clients
    can switch without downtime. An old expiry earlier than that is kept. The new key
    inherits the old key's expiry when it lies in the future.
    """
    if overlap_s < 0:
        raise ValueError("overlap_s must be 0 or more seconds")
    old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if old.is_revoked:
        raise KeyNotRotatable(f"API key {old.prefix} is revoked and cannot be rotated")
    now = timezone.now()

    prefix, plain_key = generate_plain_key()
    new = ApiKey.objects.create(
        name=old.name,
        prefix=prefix,
        digest=ApiKey.digest_of(plain_key),
        expires_at=old.expires_at if old.expires_at and old.expires_at > now else None,
        created_by=created_by,
        is_admin=old.is_admin,
        quota_policy_id=old.quota_policy_id,
        rotated_from=old,
    )
    for grant in old.grants.all():
        Grant.objects.create(
            api_key=new, namespace_id=grant.namespace_id, can_read=grant.can_read, can_write=grant.can_write
        )
    for entry in old.allowlist.all():
        IpAllowlistEntry.objects.create(api_key=new, network=entry.network, description=entry.description)

    with audit_action(AuditAction.ROTATE):
        if overlap_s == 0:
            old.revoked_at = now
            old.save(update_fields=["revoked_at"])
        else:
            overlap_end = now + timedelta(seconds=overlap_s)
            if old.expires_at is None or old.expires_at > overlap_end:
                old.expires_at = overlap_end
                old.save(update_fields=["expires_at"])
    logger.info("API key %s rotated to %s, and the old key works for %d s more", old.prefix, prefix, overlap_s)
    return NewApiKey(api_key=new, plain_key=plain_key)
