import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.tenancy.models import ApiKey, Grant, Namespace

from .conftest import ApiClient


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_key_list_and_namespace_list_render(admin_client, owner_key):
    assert admin_client.get("/admin/tenancy/apikey/").status_code == 200
    assert admin_client.get("/admin/tenancy/namespace/").status_code == 200


def test_admin_creates_key_and_shows_it_once(admin_client):
    namespace = Namespace.objects.create(name="shop")
    response = admin_client.post(
        "/admin/tenancy/apikey/add/",
        {
            "name": "checkout service",
            "expires_at_0": "",
            "expires_at_1": "",
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "0",
            "grants-MIN_NUM_FORMS": "0",
            "grants-MAX_NUM_FORMS": "1000",
            "grants-0-namespace": namespace.pk,
            "grants-0-can_read": "on",
            "grants-0-can_write": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    plain_key = re.search(r"rgx_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", page).group(0)

    api_key = ApiKey.objects.get()
    assert api_key.digest == ApiKey.digest_of(plain_key)
    assert api_key.prefix == plain_key.split("_")[1]
    assert api_key.created_by.username == "admin"
    assert Grant.objects.get().can_write is True

    assert ApiClient(plain_key).put("/api/v1/ns/shop/kv/k", {"value": "v"}).status_code == 200
    # The change page never shows the plain key again.
    assert plain_key not in admin_client.get(f"/admin/tenancy/apikey/{api_key.pk}/change/").content.decode()


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
