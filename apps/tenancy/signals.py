"""Publish cache invalidations after any change that alters what a key may do."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .keycache import EVICT_ALL, publish_invalidation
from .models import ApiKey, Grant, IpAllowlistEntry, Namespace, QuotaPolicy


def _after_commit(digest: str) -> None:
    transaction.on_commit(lambda: publish_invalidation(digest))


@receiver([post_save, post_delete], sender=ApiKey)
def api_key_changed(sender, instance: ApiKey, **kwargs) -> None:
    _after_commit(instance.digest)


@receiver([post_save, post_delete], sender=Grant)
def grant_changed(sender, instance: Grant, **kwargs) -> None:
    _after_commit(_digest_of_key(instance.api_key_id))


@receiver([post_save, post_delete], sender=IpAllowlistEntry)
def allowlist_entry_changed(sender, instance: IpAllowlistEntry, **kwargs) -> None:
    # A namespace entry applies to every key with a grant there, so those evict everything.
    _after_commit(_digest_of_key(instance.api_key_id) if instance.api_key_id else EVICT_ALL)


@receiver([post_save, post_delete], sender=QuotaPolicy)
def quota_policy_changed(sender, instance: QuotaPolicy, **kwargs) -> None:
    # The default policy applies to every key without one, so any policy change evicts everything.
    _after_commit(EVICT_ALL)


def _digest_of_key(key_id: int | None) -> str:
    return ApiKey.objects.filter(pk=key_id).values_list("digest", flat=True).first() or EVICT_ALL


@receiver([post_save, post_delete], sender=Namespace)
def namespace_changed(sender, instance: Namespace, **kwargs) -> None:
    _after_commit(EVICT_ALL)
