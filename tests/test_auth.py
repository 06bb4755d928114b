from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tenancy.models import ApiKey, Grant

from .conftest import READ, ApiClient, make_key

KV = "/api/v1/ns/alpha/kv/greeting"


def error_of(response) -> dict:
    body = response.json()
    assert body["ok"] is False
    return body["error"]


def test_missing_key_is_401(anonymous, db):
    response = anonymous.get(KV)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'


def test_unknown_key_is_401(db):
    response = ApiClient("rgx_deadbeef_not-a-real-key").get(KV)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_overlong_key_is_401(db):
    response = ApiClient("x" * 10_000).get(KV)
    assert response.status_code == 401


def test_revoked_key_is_401(owner_key, owner, django_capture_on_commit_callbacks):
    assert owner.get(KV).status_code == 404  # warms the cache
    api_key = ApiKey.objects.get(digest=ApiKey.digest_of(owner_key))
    with django_capture_on_commit_callbacks(execute=True):
        api_key.revoked_at = timezone.now()
        api_key.save()
    response = owner.get(KV)
    assert response.status_code == 401
    assert error_of(response)["code"] == "key_revoked"


def test_expired_key_is_401(db):
    key = make_key({"alpha": {READ}}, expires_at=timezone.now() - timedelta(seconds=1))
    response = ApiClient(key).get(KV)
    assert response.status_code == 401
    assert error_of(response)["code"] == "key_expired"


def test_other_namespace_is_403(outsider):
    response = outsider.get(KV)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "namespace_forbidden"
    assert "alpha" in error["message"]


def test_reader_cannot_write(reader):
    response = reader.put(KV, {"value": "hello"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_reader_can_read(owner, reader):
    owner.put(KV, {"value": "hello"})
    response = reader.get(KV)
    assert response.status_code == 200
    assert response.json()["data"]["value"] == "hello"


def test_nonexistent_namespace_is_403(owner):
    response = owner.get("/api/v1/ns/no-such-namespace/kv/x")
    assert response.status_code == 403


def test_warm_request_makes_no_database_queries(owner, django_assert_num_queries):
    owner.put(KV, {"value": "hello"})
    with django_assert_num_queries(0):
        response = owner.get(KV)
    assert response.status_code == 200


def test_grant_change_takes_effect_at_once(owner_key, owner, django_capture_on_commit_callbacks):
    assert owner.put(KV, {"value": "v"}).status_code == 200
    grant = Grant.objects.get(api_key__digest=ApiKey.digest_of(owner_key))
    with django_capture_on_commit_callbacks(execute=True):
        grant.can_write = False
        grant.save()
    assert owner.put(KV, {"value": "v"}).status_code == 403
    assert owner.get(KV).status_code == 200


@pytest.mark.django_db
def test_key_usage_is_flushed_to_database(owner_key, owner):
    from apps.tenancy.keycache import flush_key_usage

    flush_key_usage()  # drops usage left by earlier tests
    owner.get(KV)
    assert flush_key_usage() == 1
    assert ApiKey.objects.get(digest=ApiKey.digest_of(owner_key)).last_used_at is not None
