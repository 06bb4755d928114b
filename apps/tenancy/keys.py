"""Creating API keys. The plain key exists only in the return value of create_api_key."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from .models import ApiKey, Grant, Namespace, namespace_name_validator
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
