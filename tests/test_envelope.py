"""Every /api/ response is JSON in the envelope, whatever goes wrong."""

import pytest
from django.test import override_settings

from apps.data import views as data_views

KV = "/api/v1/ns/alpha/kv/item"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_success_envelope(owner):
    response = owner.put(KV, {"value": "x"})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"key": "item", "written": True}}


def test_unknown_route_is_404(owner):
    assert_error(owner.get("/api/v1/nothing/here"), 404, "route_not_found")


def test_unknown_route_without_key_is_404(anonymous, db):
    assert_error(anonymous.get("/api/"), 404, "route_not_found")


def test_wrong_method_is_405(owner):
    error = assert_error(owner.request("PATCH", KV, {"value": "x"}), 405, "method_not_allowed")
    assert "PATCH" in error["message"]


def test_wrong_method_lists_allowed(owner):
    response = owner.request("PATCH", KV, {"value": "x"})
    assert "PUT" in response["Allow"]


def test_malformed_json_is_400(owner):
    assert_error(owner.put(KV, raw=b'{"value": '), 400, "malformed_json")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_400(owner, constant):
    assert_error(owner.post(KV + "?op=incr", raw=b'{"by": ' + constant + b"}"), 400, "malformed_json")


def test_body_not_an_object_is_400(owner):
    assert_error(owner.put(KV, ["value"]), 400, "invalid")


@override_settings(REDGX_MAX_BODY_BYTES=1000)
def test_too_large_body_is_413(owner):
    error = assert_error(owner.put(KV, {"value": "x" * 2000}), 413, "payload_too_large")
    assert "1000" in error["message"]


def test_unexpected_error_is_500_without_traceback(owner, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(data_views, "data_redis", explode)
    response = owner.get(KV)
    error = assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["message"] == "Internal server error."


def test_unknown_operation_is_400(owner):
    error = assert_error(owner.post(KV + "?op=explode"), 400, "unknown_operation")
    assert "incr" in error["message"]


def test_missing_operation_is_400(owner):
    assert_error(owner.post(KV), 400, "missing_operation")


def test_unknown_field_is_400_naming_it(owner):
    error = assert_error(owner.put(KV, {"value": "x", "ttl_seconds": 5}), 400, "invalid")
    assert "ttl_seconds" in error["message"]
    assert "ttl_seconds" in error["fields"]


def test_redis_down_is_503_with_retry_after(owner, monkeypatch):
    import redis

    def unreachable(*args, **kwargs):
        return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)

    monkeypatch.setattr(data_views, "data_redis", unreachable)
    response = owner.get(KV)
    assert_error(response, 503, "redis_unavailable")
    assert response["Retry-After"] == "1"
