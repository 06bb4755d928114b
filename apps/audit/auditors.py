"""The "auditors" group: view permission on tenancy, audit and access history rows, nothing else."""

AUDITORS_GROUP = "auditors"
# (app label, model names or None for every model of the app). Apps that are not
# installed are skipped, so access history joins once its app is installed.
AUDITOR_VIEW_MODELS: list[tuple[str, tuple[str, ...] | None]] = [
    ("tenancy", ("namespace", "apikey", "grant", "ipallowlistentry", "quotapolicy")),
    ("audit", ("auditentry",)),
    ("access", None),
]


def view_permissions(permission_model, content_type_model):
    """Return the queryset of view permissions auditors hold, for real or historical models."""
    permissions = permission_model.objects.none()
    for app_label, model_names in AUDITOR_VIEW_MODELS:
        content_types = content_type_model.objects.filter(app_label=app_label)
        if model_names is not None:
            content_types = content_types.filter(model__in=model_names)
        permissions = permissions | permission_model.objects.filter(
            content_type__in=content_types, codename__startswith="view_"
        )
    return permissions


def sync_auditor_permissions(sender=None, **kwargs) -> None:
    """Add view permissions for newly installed auditor models. It never adds any other permission."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    group = Group.objects.filter(name=AUDITORS_GROUP).first()
    if group is None:
        return  # the audit migrations have not run yet
    group.permissions.add(*view_permissions(Permission, ContentType))
