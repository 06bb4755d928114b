import logging
import re

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client

from apps.audit.models import AuditEntry
from apps.tenancy.models import ApiKey, Grant, IpAllowlistEntry, Namespace, QuotaPolicy

from .conftest import READ, ApiClient, make_key

PLAIN_KEY = re.compile(r"rgx_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def key_form(namespace: Namespace, **extra) -> dict:
    return {
        "name": "checkout service",
        "expires_at_0": "",
        "expires_at_1": "",
        "grants-TOTAL_FORMS": "1",
        "grants-INITIAL_FORMS": "0",
        "grants-0-namespace": namespace.pk,
        "grants-0-can_read": "on",
        "grants-0-can_write": "on",
        "allowlist-TOTAL_FORMS": "0",
        "allowlist-INITIAL_FORMS": "0",
        **extra,
    }


def test_key_list_and_namespace_list_render(admin_client, owner_key):
    assert admin_client.get("/admin/tenancy/apikey/").status_code == 200
    assert admin_client.get("/admin/tenancy/namespace/").status_code == 200
    assert admin_client.get("/admin/tenancy/quotapolicy/").status_code == 200
    assert admin_client.get("/admin/tenancy/ipallowlistentry/").status_code == 200


def test_key_list_columns_and_filters(admin_client, db):
    policy = QuotaPolicy.objects.create(name="gold", rate_per_s=5, burst=10)
    make_key({"alpha": {READ}})
    api_key = ApiKey.objects.get()
    api_key.quota_policy = policy
    api_key.is_admin = True
    api_key.last_used_ip = "192.0.2.7"
    api_key.save()

    page = admin_client.get("/admin/tenancy/apikey/").content.decode()
    for column in (api_key.prefix, "alpha", "gold", "192.0.2.7", "active"):
        assert column in page

    assert api_key.prefix in admin_client.get("/admin/tenancy/apikey/?state=active").content.decode()
    assert api_key.prefix not in admin_client.get("/admin/tenancy/apikey/?state=revoked").content.decode()
    by_policy = admin_client.get(f"/admin/tenancy/apikey/?quota_policy__id__exact={policy.pk}")
    assert api_key.prefix in by_policy.content.decode()
    by_namespace = admin_client.get(f"/admin/tenancy/apikey/?grants__namespace__id__exact={Namespace.objects.get().pk}")
    assert api_key.prefix in by_namespace.content.decode()
    assert api_key.prefix in admin_client.get(f"/admin/tenancy/apikey/?q={api_key.prefix}").content.decode()


def test_admin_creates_key_and_shows_it_once(admin_client, caplog):
    namespace = Namespace.objects.create(name="shop")
    with caplog.at_level(logging.DEBUG):
        response = admin_client.post(
            "/admin/tenancy/apikey/add/",
            key_form(
                namespace,
                **{
                    "allowlist-TOTAL_FORMS": "1",
                    "allowlist-0-network": "127.0.0.1",
                    "allowlist-0-description": "test client",
                },
            ),
        )
    # The key page is the direct response to the POST: no redirect, no stored message.
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    plain_key = PLAIN_KEY.search(response.content.decode()).group(0)

    api_key = ApiKey.objects.get()
    assert api_key.digest == ApiKey.digest_of(plain_key)
    assert api_key.prefix == plain_key.split("_")[1]
    assert api_key.created_by.username == "admin"
    assert Grant.objects.get().can_write is True
    assert IpAllowlistEntry.objects.get().network == "127.0.0.1/32"

    assert ApiClient(plain_key).put("/api/v1/ns/shop/kv/k", {"value": "v"}).status_code == 200
    # The plain key is nowhere else: not on later pages, in the session, the logs or the audit trail.
    assert plain_key not in admin_client.get(f"/admin/tenancy/apikey/{api_key.pk}/change/").content.decode()
    assert plain_key not in admin_client.get("/admin/tenancy/apikey/").content.decode()
    assert all(plain_key not in str(session.get_decoded()) for session in Session.objects.all())
    assert plain_key not in caplog.text
    audit_text = str(list(AuditEntry.objects.values()))
    assert plain_key not in audit_text
    assert api_key.digest not in audit_text


def test_revoke_action(admin_client, owner_key, owner, django_capture_on_commit_callbacks):
    assert owner.get("/api/v1/ns/alpha/kv/k").status_code == 404
    api_key = ApiKey.objects.get(digest=ApiKey.digest_of(owner_key))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/tenancy/apikey/", {"action": "revoke_selected", "_selected_action": [api_key.pk]}, follow=True
        )
    assert "Revoked 1 API key." in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert owner.get("/api/v1/ns/alpha/kv/k").status_code == 401


def test_rotate_action_shows_new_key_once(admin_client, owner_key, caplog):
    old = ApiKey.objects.get(digest=ApiKey.digest_of(owner_key))
    confirm = admin_client.post("/admin/tenancy/apikey/", {"action": "rotate_selected", "_selected_action": [old.pk]})
    assert confirm.status_code == 200
    assert 'name="overlap_s"' in confirm.content.decode()

    with caplog.at_level(logging.DEBUG):
        response = admin_client.post(
            "/admin/tenancy/apikey/",
            {"action": "rotate_selected", "_selected_action": [old.pk], "apply": "1", "overlap_s": "600"},
        )
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    plain_key = PLAIN_KEY.search(response.content.decode()).group(0)
    new = ApiKey.objects.get(rotated_from=old)
    assert new.digest == ApiKey.digest_of(plain_key)
    assert plain_key not in caplog.text
    old.refresh_from_db()
    assert old.state() == "expiring"
    assert ApiClient(plain_key).get("/api/v1/ns/alpha/kv/k").status_code == 404
    assert ApiClient(owner_key).get("/api/v1/ns/alpha/kv/k").status_code == 404


def test_rotate_action_rejects_negative_overlap(admin_client, owner_key):
    old = ApiKey.objects.get(digest=ApiKey.digest_of(owner_key))
    response = admin_client.post(
        "/admin/tenancy/apikey/",
        {"action": "rotate_selected", "_selected_action": [old.pk], "apply": "1", "overlap_s": "-1"},
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_namespace_allowlist_inline(admin_client, db):
    namespace = Namespace.objects.create(name="shop")
    response = admin_client.post(
        f"/admin/tenancy/namespace/{namespace.pk}/change/",
        {
            "name": "shop",
            "description": "",
            "allowlist-TOTAL_FORMS": "1",
            "allowlist-INITIAL_FORMS": "0",
            "allowlist-0-network": "2001:db8::/32",
        },
    )
    assert response.status_code == 302
    entry = IpAllowlistEntry.objects.get()
    assert entry.namespace == namespace
    assert entry.api_key is None


def test_allowlist_rejects_host_bits(admin_client, db):
    namespace = Namespace.objects.create(name="shop")
    response = admin_client.post(
        "/admin/tenancy/ipallowlistentry/add/", {"network": "10.0.0.1/24", "namespace": namespace.pk}
    )
    assert response.status_code == 200
    assert "has host bits set" in response.content.decode()
    assert not IpAllowlistEntry.objects.exists()


def test_allowlist_entry_needs_exactly_one_owner(admin_client, owner_key):
    api_key = ApiKey.objects.get()
    namespace = Namespace.objects.get()
    for data in (
        {"network": "10.0.0.0/8"},
        {"network": "10.0.0.0/8", "namespace": namespace.pk, "api_key": api_key.pk},
    ):
        response = admin_client.post("/admin/tenancy/ipallowlistentry/add/", data)
        assert response.status_code == 200
        assert "either one API key or one namespace" in response.content.decode()
    assert not IpAllowlistEntry.objects.exists()


def test_admin_security_headers_and_cookies(db):
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    login_page = client.get("/admin/login/")
    assert login_page.headers["X-Frame-Options"] == "DENY"
    assert login_page.headers["X-Content-Type-Options"] == "nosniff"
    assert login_page.headers["Referrer-Policy"] == "same-origin"
    assert login_page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert client.cookies["csrftoken"]["httponly"] is True
    assert client.cookies["csrftoken"]["samesite"] == "Lax"

    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "pw"})
    assert response.status_code == 302
    session_cookie = client.cookies["sessionid"]
    assert session_cookie["httponly"] is True
    assert session_cookie["samesite"] == "Lax"
