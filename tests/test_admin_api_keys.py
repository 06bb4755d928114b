import logging
import re

import pytest

from apps.audit.models import AuditEntry
from apps.tenancy.keys import create_api_key
from apps.tenancy.models import ApiKey, IpAllowlistEntry, Namespace, QuotaPolicy

from .conftest import READ, ApiClient

KEYS = "/api/v1/admin/keys"
PLAIN_KEY = re.compile(r"rgx_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def operator_key(db) -> str:
    """A key with the admin grant."""
    return create_api_key("ops", {"alpha": {READ}}, create_namespaces=True, is_admin=True).plain_key


@pytest.fixture
def operator(operator_key) -> ApiClient:
    return ApiClient(operator_key)


def error_of(response) -> dict:
    body = response.json()
    assert body["ok"] is False
    return body["error"]


def test_key_without_admin_grant_is_403(owner):
    response = owner.get(KEYS)
    assert response.status_code == 403
    assert error_of(response)["code"] == "admin_forbidden"


def test_missing_key_is_401(anonymous, db):
    response = anonymous.get(KEYS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_list_has_no_secrets(operator, operator_key, owner_key):
    response = operator.get(KEYS)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["count"] == 2
    listed = {key["prefix"]: key for key in data["keys"]}
    owner = listed[owner_key.split("_")[1]]
    assert owner["grants"] == {"alpha": ["read", "write"]}
    assert owner["state"] == "active"
    assert owner["is_admin"] is False
    text = response.content.decode()
    for plain_key in (operator_key, owner_key):
        assert plain_key not in text
        assert ApiKey.digest_of(plain_key) not in text
    assert "digest" not in text


def test_list_limit_and_offset(operator, owner_key):
    first = operator.get(f"{KEYS}?limit=1").json()["data"]
    second = operator.get(f"{KEYS}?limit=1&offset=1").json()["data"]
    assert first["count"] == 2
    assert len(first["keys"]) == 1
    assert first["keys"][0]["prefix"] != second["keys"][0]["prefix"]
    response = operator.get(f"{KEYS}?limit=abc")
    assert response.status_code == 400
    assert "limit" in error_of(response)["message"]


def test_create_returns_plain_key_once(operator, operator_key, caplog):
    Namespace.objects.create(name="shop")
    QuotaPolicy.objects.create(name="gold", rate_per_s=10, burst=20)
    body = {
        "name": "checkout",
        "grants": {"shop": ["read", "write"]},
        "quota_policy": "gold",
        "networks": ["127.0.0.1", "10.0.0.0/8"],
    }
    with caplog.at_level(logging.DEBUG):
        response = operator.post(KEYS, body)
    assert response.status_code == 201, response.content
    assert "no-store" in response.headers["Cache-Control"]
    data = response.json()["data"]
    plain_key = data["plain_key"]
    assert PLAIN_KEY.fullmatch(plain_key)
    assert data["key"]["grants"] == {"shop": ["read", "write"]}
    assert data["key"]["quota_policy"] == "gold"
    assert sorted(data["key"]["networks"]) == ["10.0.0.0/8", "127.0.0.1/32"]

    stored = ApiKey.objects.get(prefix=data["key"]["prefix"])
    assert stored.digest == ApiKey.digest_of(plain_key)
    assert ApiClient(plain_key).put("/api/v1/ns/shop/kv/k", {"value": "v"}).status_code == 200

    assert plain_key not in operator.get(KEYS).content.decode()
    assert plain_key not in operator.get(f"{KEYS}/{stored.prefix}").content.decode()
    assert plain_key not in caplog.text
    audit_text = str(list(AuditEntry.objects.values()))
    assert plain_key not in audit_text
    assert stored.digest not in audit_text


def test_create_rejects_unknown_namespace(operator):
    response = operator.post(KEYS, {"name": "x", "grants": {"nowhere": ["read"]}})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "namespace_not_found"
    assert "nowhere" in error["message"]
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"grants": {"alpha": ["read"]}}, "name"),
        ({"name": "x", "grants": {"alpha": ["delete"]}}, "grants"),
        ({"name": "x", "grants": {"alpha": ["read"]}, "networks": ["10.0.0.1/8"]}, "networks"),
        ({"name": "x", "grants": {"alpha": ["read"]}, "quota_policy": "missing"}, "quota_policy"),
    ],
)
def test_create_rejects_invalid_input(operator, body, field):
    response = operator.post(KEYS, body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert ApiKey.objects.count() == 1
    assert not IpAllowlistEntry.objects.exists()


def test_rotate_returns_new_key_and_overlap(operator, owner_key):
    prefix = owner_key.split("_")[1]
    response = operator.post(f"{KEYS}/{prefix}/rotate", {"overlap_s": 300})
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["key"]["rotated_from"] == prefix
    assert data["old_key"]["state"] == "expiring"
    assert data["old_key"]["expires_at"] is not None
    assert ApiKey.objects.get(prefix=data["key"]["prefix"]).digest == ApiKey.digest_of(data["plain_key"])
    assert ApiClient(data["plain_key"]).get("/api/v1/ns/alpha/kv/k").status_code == 404
    assert ApiClient(owner_key).get("/api/v1/ns/alpha/kv/k").status_code == 404


def test_rotate_needs_valid_overlap(operator, owner_key):
    prefix = owner_key.split("_")[1]
    for body in ({}, {"overlap_s": -5}, {"overlap_s": "soon"}):
        response = operator.post(f"{KEYS}/{prefix}/rotate", body)
        assert response.status_code == 400
        assert "overlap_s" in error_of(response)["fields"]
    assert ApiKey.objects.count() == 2


def test_revoke_then_rotate_is_409(operator, owner_key, owner, django_capture_on_commit_callbacks):
    prefix = owner_key.split("_")[1]
    assert owner.get("/api/v1/ns/alpha/kv/k").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"{KEYS}/{prefix}/revoke")
    assert response.status_code == 200
    assert response.json()["data"]["key"]["state"] == "revoked"
    assert ApiKey.objects.get(prefix=prefix).revoked_at is not None
    assert owner.get("/api/v1/ns/alpha/kv/k").status_code == 401

    response = operator.post(f"{KEYS}/{prefix}/rotate", {"overlap_s": 0})
    assert response.status_code == 409
    assert error_of(response)["code"] == "key_revoked"


def test_unknown_prefix_is_404(operator):
    for method, path in (("GET", f"{KEYS}/nothere"), ("POST", f"{KEYS}/nothere/revoke")):
        response = operator.request(method, path)
        assert response.status_code == 404
        assert error_of(response)["code"] == "key_not_found"


def test_changes_are_audited_with_calling_key(operator, operator_key, owner_key):
    operator_prefix = operator_key.split("_")[1]
    prefix = owner_key.split("_")[1]
    AuditEntry.objects.all().delete()
    operator.post(f"{KEYS}/{prefix}/rotate", {"overlap_s": 60}, REMOTE_ADDR="127.0.0.9")
    operator.post(f"{KEYS}/{prefix}/revoke", REMOTE_ADDR="127.0.0.9")
    entries = list(AuditEntry.objects.order_by("id"))
    assert {entry.actor for entry in entries} == {f"api-key:{operator_prefix}"}
    assert {entry.actor_kind for entry in entries} == {"api_key"}
    assert {entry.source_address for entry in entries} == {"127.0.0.9"}
    actions = [(entry.object_type, entry.action) for entry in entries]
    assert ("tenancy.apikey", "create") in actions
    assert ("tenancy.grant", "create") in actions
    assert ("tenancy.apikey", "rotate") in actions
    assert actions[-1] == ("tenancy.apikey", "revoke")
