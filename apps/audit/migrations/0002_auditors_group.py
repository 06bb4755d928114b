from django.contrib.auth.management import create_permissions
from django.db import migrations

from apps.audit.auditors import AUDITORS_GROUP, view_permissions


def create_auditors_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate), so create
    # them now for the models this group needs.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    group, _created = Group.objects.get_or_create(name=AUDITORS_GROUP)
    group.permissions.set(view_permissions(Permission, ContentType))


def delete_auditors_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=AUDITORS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_audit_entry"),
        ("tenancy", "0003_quota_policy_allowlist_rotation"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_auditors_group, delete_auditors_group)]
