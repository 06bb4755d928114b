"""Publish cache invalidations after any change that alters what a key may do."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .keycache import EVICT_ALL, publish_invalidation
from .models import ApiKey, Grant, Namespace


def _after_commit(digest: str) -> None:
    transaction.on_commit(lambda: publish_invalidation(digest))


@receiver([post_save, post_delete], sender=ApiKey)
def api_key_changed(sender, instance: ApiKey, **kwargs) -> None:
    _after_commit(instance.digest)


@receiver([post_save, post_delete], sender=Grant)
def grant_changed(sender, instance: Grant, **kwargs) -> None:
    _after_commit(ApiKey.objects.filter(pk=instance.api_key_id).values_list("digest", flat=True).first() or EVICT_ALL)


@receiver([post_save, post_delete], sender=Namespace)
def namespace_changed(sender, instance: Namespace, **kwargs) -> None:
    _after_commit(EVICT_ALL)
