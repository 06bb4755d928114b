import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from apps.tenancy.keys import KeyNotRotatable, create_api_key, rotate_api_key
from apps.tenancy.models import ApiKey, IpAllowlistEntry, QuotaPolicy

from .conftest import READ, WRITE, ApiClient, free_port, start_web

KV = "/api/v1/ns/alpha/kv/k"


@pytest.fixture
def old_key(db):
    policy = QuotaPolicy.objects.create(name="silver", rate_per_s=3, burst=6)
    new_key = create_api_key("billing", {"alpha": {READ, WRITE}}, create_namespaces=True, is_admin=True)
    api_key = new_key.api_key
    api_key.quota_policy = policy
    api_key.save()
    IpAllowlistEntry.objects.create(api_key=api_key, network="127.0.0.0/8", description="loopback")
    return new_key


def test_rotation_copies_grants_allowlist_policy_and_admin(old_key):
    new = rotate_api_key(old_key.api_key, 60)
    stored = ApiKey.objects.get(pk=new.api_key.pk)
    assert stored.digest == ApiKey.digest_of(new.plain_key)
    assert stored.rotated_from_id == old_key.api_key.pk
    assert stored.name == "billing"
    assert stored.is_admin is True
    assert stored.quota_policy.name == "silver"
    assert [(g.namespace.name, g.can_read, g.can_write) for g in stored.grants.all()] == [("alpha", True, True)]
    assert [(e.network, e.description) for e in stored.allowlist.all()] == [("127.0.0.0/8", "loopback")]


def test_rotation_sets_old_expiry_to_overlap(old_key):
    before = timezone.now()
    rotate_api_key(old_key.api_key, 600)
    old = ApiKey.objects.get(pk=old_key.api_key.pk)
    assert old.revoked_at is None
    assert before + timedelta(seconds=599) <= old.expires_at <= timezone.now() + timedelta(seconds=600)
    assert old.state() == "expiring"


def test_rotation_keeps_earlier_old_expiry(db):
    expires_at = timezone.now() + timedelta(seconds=30)
    new_key = create_api_key("short", {"alpha": {READ}}, create_namespaces=True, expires_at=expires_at)
    new = rotate_api_key(new_key.api_key, 3600)
    assert ApiKey.objects.get(pk=new_key.api_key.pk).expires_at == expires_at
    # The new key keeps the lifetime the old one had.
    assert new.api_key.expires_at == expires_at


def test_rotation_with_zero_overlap_revokes(old_key, django_capture_on_commit_callbacks):
    old_client = ApiClient(old_key.plain_key)
    assert old_client.get(KV, REMOTE_ADDR="127.0.0.1").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        new = rotate_api_key(old_key.api_key, 0)
    response = old_client.get(KV, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "key_revoked"
    assert ApiClient(new.plain_key).get(KV, REMOTE_ADDR="127.0.0.1").status_code == 404


def test_revoked_key_cannot_rotate(old_key):
    api_key = old_key.api_key
    api_key.revoked_at = timezone.now()
    api_key.save()
    with pytest.raises(KeyNotRotatable):
        rotate_api_key(api_key, 60)
    assert ApiKey.objects.count() == 1


def test_negative_overlap_is_rejected(old_key):
    with pytest.raises(ValueError):
        rotate_api_key(old_key.api_key, -1)


@pytest.mark.django_db(transaction=True)
def test_overlap_then_expiry_on_running_server():
    """Both keys work on a running gateway during the overlap; after it the old key gets 401."""
    admin = create_api_key("ops", {"alpha": {READ, WRITE}}, create_namespaces=True, is_admin=True)
    old = create_api_key("client", {"alpha": {READ, WRITE}})
    port = free_port()
    web = start_web("rotation-web", port)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.put(KV, json={"value": "v"}, headers={"X-API-Key": old.plain_key}).status_code == 200

            overlap_s = 2
            rotated = http.post(
                f"/api/v1/admin/keys/{old.api_key.prefix}/rotate",
                json={"overlap_s": overlap_s},
                headers={"X-API-Key": admin.plain_key},
            )
            assert rotated.status_code == 201, rotated.text
            rotated_at = time.monotonic()
            new_plain_key = rotated.json()["data"]["plain_key"]

            for key in (old.plain_key, new_plain_key):
                response = http.get(KV, headers={"X-API-Key": key})
                assert response.status_code == 200
                assert response.json()["data"]["value"] == "v"
            assert time.monotonic() - rotated_at < overlap_s, "the overlap checks ran too slowly to mean anything"

            time.sleep(max(0.0, overlap_s - (time.monotonic() - rotated_at)) + 0.3)
            expired = http.get(KV, headers={"X-API-Key": old.plain_key})
            assert expired.status_code == 401
            assert expired.json()["error"]["code"] == "key_expired"
            assert http.get(KV, headers={"X-API-Key": new_plain_key}).status_code == 200
    finally:
        web.stop()
