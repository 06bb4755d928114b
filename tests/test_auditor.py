import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client

from apps.audit.models import AuditEntry
from apps.tenancy.keys import create_api_key
from apps.tenancy.models import ApiKey, IpAllowlistEntry, Namespace, QuotaPolicy

from .conftest import READ

AUDITED_APPS = {"tenancy", "audit", "access"}


@pytest.fixture
def auditor(db) -> Client:
    user = User.objects.create_user("audrey", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def rows(db) -> dict:
    """One stored row of every audited model that has an admin page."""
    policy = QuotaPolicy.objects.create(name="gold", rate_per_s=5, burst=10)
    api_key = create_api_key("svc", {"alpha": {READ}}, create_namespaces=True).api_key
    api_key.quota_policy = policy
    api_key.save()
    entry = IpAllowlistEntry.objects.create(api_key=api_key, network="10.0.0.0/8")
    return {
        ApiKey: api_key,
        Namespace: Namespace.objects.get(),
        QuotaPolicy: policy,
        IpAllowlistEntry: entry,
        AuditEntry: AuditEntry.objects.first(),
    }


def audited_models() -> list:
    return [model for model in admin.site._registry if model._meta.app_label in AUDITED_APPS]


def admin_url(model, suffix: str) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"


def test_auditors_group_has_only_view_permissions(db):
    codenames = set(Group.objects.get(name="auditors").permissions.values_list("codename", flat=True))
    assert {"view_apikey", "view_grant", "view_namespace", "view_ipallowlistentry", "view_quotapolicy"} <= codenames
    assert "view_auditentry" in codenames
    assert all(codename.startswith("view_") for codename in codenames)


def test_auditors_see_access_history_when_installed(db):
    from django.apps import apps

    if not apps.is_installed("apps.access"):
        pytest.skip("the access history app is not installed")
    codenames = set(Group.objects.get(name="auditors").permissions.values_list("codename", flat=True))
    for model in apps.get_app_config("access").get_models():
        assert f"view_{model._meta.model_name}" in codenames


def test_auditor_can_list_and_view(auditor, rows):
    for model in audited_models():
        assert auditor.get(admin_url(model, "")).status_code == 200, model
    for model, obj in rows.items():
        detail = auditor.get(admin_url(model, f"{obj.pk}/change/"))
        assert detail.status_code == 200, model
        # The detail page is read-only: no save button.
        assert 'name="_save"' not in detail.content.decode(), model


def test_auditor_gets_403_on_add_views(auditor, rows):
    for model in audited_models():
        assert auditor.get(admin_url(model, "add/")).status_code == 403, model
        assert auditor.post(admin_url(model, "add/"), {"name": "x", "network": "10.0.0.0/8"}).status_code == 403
    assert QuotaPolicy.objects.count() == 1
    assert Namespace.objects.count() == 1


def test_auditor_gets_403_on_change_posts(auditor, rows):
    for model, obj in rows.items():
        response = auditor.post(admin_url(model, f"{obj.pk}/change/"), {"name": "renamed", "network": "10.9.0.0/16"})
        assert response.status_code == 403, model
    assert ApiKey.objects.get().name == "svc"
    assert Namespace.objects.get().name == "alpha"
    assert QuotaPolicy.objects.get().name == "gold"
    assert IpAllowlistEntry.objects.get().network == "10.0.0.0/8"


def test_auditor_gets_403_on_delete_views(auditor, rows):
    for model, obj in rows.items():
        assert auditor.get(admin_url(model, f"{obj.pk}/delete/")).status_code == 403, model
        assert auditor.post(admin_url(model, f"{obj.pk}/delete/"), {"post": "yes"}).status_code == 403, model
    for model in rows:
        assert model.objects.exists(), model


def test_auditor_cannot_run_changing_actions(auditor, rows):
    api_key = rows[ApiKey]
    for action in ("revoke_selected", "rotate_selected", "delete_selected"):
        response = auditor.post(
            admin_url(ApiKey, ""), {"action": action, "_selected_action": [api_key.pk], "apply": "1", "overlap_s": "0"}
        )
        # Django treats an action the user may not run as unknown, so it returns the list and changes nothing.
        assert response.status_code in (200, 302), action
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert ApiKey.objects.count() == 1


def test_auditor_cannot_open_user_admin(auditor):
    assert auditor.get("/admin/auth/user/").status_code == 403
    assert auditor.get("/admin/auth/group/").status_code == 403


def test_auditor_exports_csv(auditor, rows):
    entries = list(AuditEntry.objects.values_list("pk", flat=True))
    response = auditor.post(admin_url(AuditEntry, ""), {"action": "export_as_csv", "_selected_action": entries})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,created_at,actor")
    assert len(body.splitlines()) == len(entries) + 1

    keys = auditor.post(admin_url(ApiKey, ""), {"action": "export_as_csv", "_selected_action": [rows[ApiKey].pk]})
    assert keys.status_code == 200
    text = b"".join(keys.streaming_content).decode()
    assert rows[ApiKey].prefix in text
    assert rows[ApiKey].digest not in text
