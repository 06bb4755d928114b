"""Write audit rows from model signals, inside the transaction that makes the change."""

import json
import logging

from django.core.exceptions import ObjectDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from .context import current_action_override, current_actor
from .models import AuditAction, AuditEntry

logger = logging.getLogger(__name__)

# model -> field names left out of the stored values
_registry: dict[type[models.Model], frozenset[str]] = {}


def register(model: type[models.Model], exclude: tuple[str, ...] = ()) -> None:
    # NOTE: QuerySet.update(), bulk_create() and raw SQL send no model signals, so they
    # bypass the trail. Administrative changes must go through save() and delete().
    _registry[model] = frozenset(exclude)
    uid = f"audit.{model._meta.label_lower}"
    pre_save.connect(_remember_before, sender=model, dispatch_uid=f"{uid}.pre_save")
    post_save.connect(_record_save, sender=model, dispatch_uid=f"{uid}.post_save")
    post_delete.connect(_record_delete, sender=model, dispatch_uid=f"{uid}.post_delete")


def snapshot(instance: models.Model) -> dict:
    """Return the instance's field values as JSON-ready data, without excluded fields."""
    excluded = _registry.get(type(instance), frozenset())
    values = {
        field.name: field.value_from_object(instance)
        for field in instance._meta.concrete_fields
        if field.name not in excluded
    }
    # A round trip through the encoder turns datetimes, decimals and UUIDs into JSON text.
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def _remember_before(sender, instance: models.Model, raw: bool = False, **kwargs) -> None:
    if raw or instance._state.adding or instance.pk is None:
        instance._audit_before = None
        return
    stored = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(stored) if stored is not None else None


def _record_save(sender, instance: models.Model, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    after = snapshot(instance)
    before = None if created else getattr(instance, "_audit_before", None)
    if created:
        action = AuditAction.CREATE
    else:
        if before == after:
            return  # only excluded fields changed, such as last-used times
        action = current_action_override() or _update_action(before, after)
    _write(instance, action, before, after)


def _record_delete(sender, instance: models.Model, **kwargs) -> None:
    _write(instance, AuditAction.DELETE, snapshot(instance), None)


def _update_action(before: dict | None, after: dict) -> str:
    if before is not None and before.get("revoked_at") is None and after.get("revoked_at") is not None:
        return AuditAction.REVOKE
    return AuditAction.UPDATE


def _write(instance: models.Model, action: str, before: dict | None, after: dict | None) -> None:
    actor = current_actor()
    AuditEntry.objects.create(
        actor=actor.name[:200],
        actor_kind=actor.kind,
        source_address=actor.address,
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=_describe(instance)[:255],
        before=before,
        after=after,
    )
    logger.info("Audit: %s %s %s %s", actor.name, action, instance._meta.label_lower, instance.pk)


def _describe(instance: models.Model) -> str:
    try:
        return str(instance)
    except ObjectDoesNotExist:
        # __str__ may follow a foreign key to a row that a cascade already removed.
        return f"{instance._meta.verbose_name} {instance.pk}"
