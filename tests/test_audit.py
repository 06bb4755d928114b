import csv
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from apps.audit.models import AuditEntry
from apps.tenancy.keys import create_api_key, rotate_api_key
from apps.tenancy.models import ApiKey, Grant, IpAllowlistEntry, Namespace, QuotaPolicy

from .conftest import READ


@pytest.fixture
def admin_client(db) -> Client:
    client = Client(REMOTE_ADDR="127.0.0.5")
    client.force_login(User.objects.create_superuser("alice", "alice@example.com", "pw"))
    return client


def entries(object_type: str, action: str):
    return list(AuditEntry.objects.filter(object_type=object_type, action=action).order_by("id"))


def only_entry(object_type: str, action: str) -> AuditEntry:
    found = entries(object_type, action)
    assert len(found) == 1, f"expected one {action} of {object_type}, found {found}"
    return found[0]


def test_admin_changes_record_user_and_address(admin_client):
    """Every kind of change made in the admin gets a row with the user and the client address."""
    admin_client.post(
        "/admin/tenancy/namespace/add/", {"name": "shop", "allowlist-TOTAL_FORMS": "0", "allowlist-INITIAL_FORMS": "0"}
    )
    namespace = Namespace.objects.get(name="shop")
    admin_client.post("/admin/tenancy/quotapolicy/add/", {"name": "gold", "rate_per_s": "5", "burst": "10"})
    policy = QuotaPolicy.objects.get()
    admin_client.post(
        f"/admin/tenancy/quotapolicy/{policy.pk}/change/", {"name": "gold", "rate_per_s": "7", "burst": "10"}
    )
    admin_client.post(
        "/admin/tenancy/apikey/add/",
        {
            "name": "svc",
            "quota_policy": policy.pk,
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "0",
            "grants-0-namespace": namespace.pk,
            "grants-0-can_read": "on",
            "allowlist-TOTAL_FORMS": "1",
            "allowlist-INITIAL_FORMS": "0",
            "allowlist-0-network": "10.1.0.0/16",
        },
    )
    api_key = ApiKey.objects.get()
    entry = IpAllowlistEntry.objects.get()
    admin_client.post(
        "/admin/tenancy/apikey/",
        {"action": "rotate_selected", "_selected_action": [api_key.pk], "apply": "1", "overlap_s": "60"},
    )
    admin_client.post("/admin/tenancy/apikey/", {"action": "revoke_selected", "_selected_action": [api_key.pk]})
    admin_client.post(f"/admin/tenancy/ipallowlistentry/{entry.pk}/delete/", {"post": "yes"})

    expected = [
        ("tenancy.namespace", "create"),
        ("tenancy.quotapolicy", "create"),
        ("tenancy.quotapolicy", "update"),
        ("tenancy.apikey", "create"),
        ("tenancy.grant", "create"),
        ("tenancy.ipallowlistentry", "create"),
        ("tenancy.apikey", "rotate"),
        ("tenancy.apikey", "revoke"),
        ("tenancy.ipallowlistentry", "delete"),
    ]
    for object_type, action in expected:
        found = entries(object_type, action)
        assert found, f"no {action} row for {object_type}"
        assert {(row.actor, row.actor_kind, row.source_address) for row in found} == {("alice", "user", "127.0.0.5")}

    update = only_entry("tenancy.quotapolicy", "update")
    assert update.before["rate_per_s"] == 5.0
    assert update.after["rate_per_s"] == 7.0
    assert update.object_id == str(policy.pk)
    assert update.object_repr == "gold"
    revoke = entries("tenancy.apikey", "revoke")[0]
    assert revoke.before["revoked_at"] is None
    assert revoke.after["revoked_at"] is not None
    deleted = only_entry("tenancy.ipallowlistentry", "delete")
    assert deleted.before["network"] == "10.1.0.0/16"
    assert deleted.after is None


def test_inline_grant_delete_is_recorded(admin_client):
    create_api_key("svc", {"alpha": {READ}}, create_namespaces=True)
    api_key = ApiKey.objects.get()
    grant = Grant.objects.get()
    response = admin_client.post(
        f"/admin/tenancy/apikey/{api_key.pk}/change/",
        {
            "name": "svc",
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "1",
            "grants-0-id": grant.pk,
            "grants-0-api_key": api_key.pk,
            "grants-0-namespace": grant.namespace_id,
            "grants-0-can_read": "on",
            "grants-0-DELETE": "on",
            "allowlist-TOTAL_FORMS": "0",
            "allowlist-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    row = only_entry("tenancy.grant", "delete")
    assert row.actor == "alice"
    assert row.before["can_read"] is True


def test_management_command_is_the_actor(db, capsys):
    call_command("createapikey", "--namespace", "cli", "--permissions", "read,write")
    plain_key = capsys.readouterr().out.strip()
    rows = list(AuditEntry.objects.order_by("id"))
    assert [(row.object_type, row.action) for row in rows] == [
        ("tenancy.apikey", "create"),
        ("tenancy.namespace", "create"),
        ("tenancy.grant", "create"),
    ]
    assert {(row.actor, row.actor_kind, row.source_address) for row in rows} == {
        ("command:createapikey", "command", None)
    }
    text = str([(row.before, row.after, row.object_repr) for row in rows])
    assert plain_key not in text
    assert ApiKey.digest_of(plain_key) not in text


def test_key_values_leave_out_digest_and_usage(db):
    new_key = create_api_key("svc", {"alpha": {READ}}, create_namespaces=True)
    row = only_entry("tenancy.apikey", "create")
    assert "digest" not in row.after
    assert "last_used_at" not in row.after
    assert row.after["prefix"] == new_key.api_key.prefix
    assert row.before is None


def test_usage_stamps_are_not_audited(db):
    new_key = create_api_key("svc", {"alpha": {READ}}, create_namespaces=True)
    api_key = new_key.api_key
    api_key.last_used_ip = "127.0.0.1"
    api_key.save()
    assert entries("tenancy.apikey", "update") == []


def test_rotation_in_code_records_rotate(db):
    new_key = create_api_key("svc", {"alpha": {READ}}, create_namespaces=True)
    rotate_api_key(new_key.api_key, 0)
    rotated = only_entry("tenancy.apikey", "rotate")
    assert rotated.object_id == str(new_key.api_key.pk)
    assert rotated.after["revoked_at"] is not None
    assert rotated.actor.startswith("system:")


def test_key_delete_records_cascaded_rows(db):
    create_api_key("svc", {"alpha": {READ}}, create_namespaces=True)
    api_key = ApiKey.objects.get()
    IpAllowlistEntry.objects.create(api_key=api_key, network="10.0.0.0/8")
    api_key.delete()
    assert only_entry("tenancy.apikey", "delete").before["name"] == "svc"
    assert only_entry("tenancy.grant", "delete").object_repr.endswith("alpha: read")
    assert only_entry("tenancy.ipallowlistentry", "delete").before["network"] == "10.0.0.0/8"


def test_audit_admin_is_read_only_for_superusers(admin_client):
    Namespace.objects.create(name="shop")
    row = AuditEntry.objects.get()
    change_url = f"/admin/audit/auditentry/{row.pk}/change/"

    assert admin_client.get("/admin/audit/auditentry/").status_code == 200
    detail = admin_client.get(change_url)
    assert detail.status_code == 200
    assert 'type="submit" value="Save' not in detail.content.decode()
    assert admin_client.get("/admin/audit/auditentry/add/").status_code == 403
    assert admin_client.post("/admin/audit/auditentry/add/", {"actor": "x"}).status_code == 403
    assert admin_client.post(change_url, {"actor": "mallory"}).status_code == 403
    assert admin_client.get(f"/admin/audit/auditentry/{row.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/audit/auditentry/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_client.post("/admin/audit/auditentry/", {"action": "delete_selected", "_selected_action": [row.pk]})
    assert bulk.status_code in (200, 302)
    assert AuditEntry.objects.count() == 1
    assert AuditEntry.objects.get().actor == row.actor


def test_audit_list_filters_and_search(admin_client):
    Namespace.objects.create(name="shop")
    call_command("createapikey", "--namespace", "cli")
    page = admin_client.get("/admin/audit/auditentry/?actor_kind__exact=command").content.decode()
    assert "command:createapikey" in page
    page = admin_client.get("/admin/audit/auditentry/?q=createapikey&action__exact=create").content.decode()
    assert "command:createapikey" in page
    page = admin_client.get("/admin/audit/auditentry/?object_type=tenancy.namespace").content.decode()
    assert "shop" in page


def test_csv_export(admin_client):
    Namespace.objects.create(name="shop")
    row = AuditEntry.objects.get()
    response = admin_client.post("/admin/audit/auditentry/", {"action": "export_as_csv", "_selected_action": [row.pk]})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, values = lines
    assert header[:3] == ["id", "created_at", "actor"]
    record = dict(zip(header, values, strict=True))
    assert record["action"] == "create"
    assert record["object_type"] == "tenancy.namespace"
    assert '"name": "shop"' in record["after"]


def test_csv_export_defuses_formulas(db):
    User.objects.create_superuser("=HYPERLINK(1)", "x@example.com", "pw")
    client = Client()
    client.force_login(User.objects.get())
    client.post(
        "/admin/tenancy/namespace/add/", {"name": "shop", "allowlist-TOTAL_FORMS": "0", "allowlist-INITIAL_FORMS": "0"}
    )
    row = AuditEntry.objects.get()
    response = client.post("/admin/audit/auditentry/", {"action": "export_as_csv", "_selected_action": [row.pk]})
    header, values = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert dict(zip(header, values, strict=True))["actor"] == "'=HYPERLINK(1)"
