import time

import pytest

from apps.core.redis import data_redis

from .conftest import stored_key, stored_keys
from .envelopes import data_of

KV = "/api/v1/ns/alpha/kv/"


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_set_then_get(owner):
    assert data_of(owner.put(KV + "greeting", {"value": "안녕하세요"})) == {"key": "greeting", "written": True}
    data = data_of(owner.get(KV + "greeting"))
    assert data == {"key": "greeting", "value": "안녕하세요", "encoding": "utf-8", "ttl_ms": None}
    assert data_redis().get(stored_key("greeting")) == "안녕하세요".encode()


def test_get_missing_is_404(owner):
    response = owner.get(KV + "missing")
    assert response.status_code == 404
    assert error_code(response) == "key_not_found"


def test_empty_value_is_stored(owner):
    data_of(owner.put(KV + "empty", {"value": ""}))
    assert data_of(owner.get(KV + "empty"))["value"] == ""


def test_binary_value_comes_back_as_base64(owner):
    data_redis().set(stored_key("blob"), b"\xff\x00\xfe")
    data = data_of(owner.get(KV + "blob"))
    assert data["encoding"] == "base64"
    assert data["value"] == "/wD+"


def test_set_with_ttl_seconds(owner):
    data_of(owner.put(KV + "session", {"value": "v", "ttl": 100}))
    ttl_ms = data_of(owner.get(KV + "session"))["ttl_ms"]
    assert 99_000 < ttl_ms <= 100_000
    assert 99 <= data_redis().ttl(stored_key("session")) <= 100


def test_set_with_ttl_ms_expires(owner):
    data_of(owner.put(KV + "flash", {"value": "v", "ttl_ms": 50}))
    assert data_redis().pttl(stored_key("flash")) <= 50
    time.sleep(0.1)
    assert owner.get(KV + "flash").status_code == 404


def test_set_replaces_ttl_like_redis(owner):
    data_of(owner.put(KV + "k", {"value": "v", "ttl": 100}))
    data_of(owner.put(KV + "k", {"value": "w"}))
    assert data_of(owner.get(KV + "k"))["ttl_ms"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"value": "v", "ttl": 0}, "ttl"),
        ({"value": "v", "ttl": -5}, "ttl"),
        ({"value": "v", "ttl": "10"}, "ttl"),
        ({"value": "v", "ttl": 1.5}, "ttl"),
        ({"value": "v", "ttl": True}, "ttl"),
        ({"value": "v", "ttl_ms": 2**70}, "ttl_ms"),
        ({"value": "v", "ttl": 5, "ttl_ms": 5000}, "ttl_ms"),
        ({"value": 42}, "value"),
        ({"value": None}, "value"),
        ({"value": ["a"]}, "value"),
        ({}, "value"),
        ({"value": "v", "nx": "yes"}, "nx"),
        ({"value": "v", "nx": True, "xx": True}, "xx"),
    ],
)
def test_invalid_set_names_the_field(owner, body, field):
    response = owner.put(KV + "k", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert f"'{field}'" in error["message"]
    assert data_redis().exists(stored_key("k")) == 0


def test_nx_writes_only_new_keys(owner):
    assert data_of(owner.put(KV + "k", {"value": "first", "nx": True}))["written"] is True
    assert data_of(owner.put(KV + "k", {"value": "second", "nx": True}))["written"] is False
    assert data_redis().get(stored_key("k")) == b"first"


def test_xx_writes_only_existing_keys(owner):
    assert data_of(owner.put(KV + "k", {"value": "v", "xx": True}))["written"] is False
    assert data_redis().exists(stored_key("k")) == 0
    data_of(owner.put(KV + "k", {"value": "v"}))
    assert data_of(owner.put(KV + "k", {"value": "w", "xx": True}))["written"] is True
    assert data_redis().get(stored_key("k")) == b"w"


def test_value_over_limit_is_413(owner, settings):
    settings.REDGX_MAX_VALUE_BYTES = 10
    response = owner.put(KV + "k", {"value": "x" * 11})
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert data_redis().exists(stored_key("k")) == 0


def test_delete(owner):
    data_of(owner.put(KV + "k", {"value": "v"}))
    assert data_of(owner.delete(KV + "k")) == {"key": "k", "deleted": 1}
    assert data_of(owner.delete(KV + "k")) == {"key": "k", "deleted": 0}
    assert data_redis().exists(stored_key("k")) == 0


def test_incr_from_missing_key(owner):
    assert data_of(owner.post(KV + "counter?op=incr"))["value"] == 1
    assert data_of(owner.post(KV + "counter?op=incr", {"by": 41}))["value"] == 42
    assert data_redis().get(stored_key("counter")) == b"42"


def test_decr(owner):
    data_of(owner.post(KV + "counter?op=incr", {"by": 10}))
    assert data_of(owner.post(KV + "counter?op=decr", {"by": 3}))["value"] == 7
    assert data_of(owner.post(KV + "counter?op=incr", {"by": -8}))["value"] == -1


def test_incr_by_float(owner):
    data_of(owner.put(KV + "price", {"value": "10.5"}))
    assert data_of(owner.post(KV + "price?op=incr", {"by": 0.25}))["value"] == 10.75


def test_incr_on_text_is_409(owner):
    data_of(owner.put(KV + "k", {"value": "hello"}))
    response = owner.post(KV + "k?op=incr")
    assert response.status_code == 409
    assert error_code(response) == "not_integer"
    assert data_redis().get(stored_key("k")) == b"hello"


def test_incr_overflow_is_409(owner):
    data_of(owner.put(KV + "k", {"value": str(2**63 - 1)}))
    response = owner.post(KV + "k?op=incr")
    assert response.status_code == 409
    assert error_code(response) == "overflow"


@pytest.mark.parametrize("by", ["5", True, None, [1], 2**64])
def test_incr_rejects_bad_amount(owner, by):
    response = owner.post(KV + "k?op=incr", {"by": by})
    assert response.status_code == 400
    assert "by" in response.json()["error"]["fields"]
    assert data_redis().exists(stored_key("k")) == 0


def test_decr_of_int64_min_is_400(owner):
    response = owner.post(KV + "k?op=decr", {"by": -(2**63)})
    assert response.status_code == 400


def test_wrong_type_is_409(owner):
    data_redis().hset(stored_key("hash"), "field", "v")
    response = owner.get(KV + "hash")
    assert response.status_code == 409
    assert error_code(response) == "wrong_type"


def test_reader_can_get_but_not_incr(owner, reader):
    data_of(owner.put(KV + "k", {"value": "1"}))
    assert data_of(reader.get(KV + "k"))["value"] == "1"
    assert reader.post(KV + "k?op=incr").status_code == 403
    assert data_redis().get(stored_key("k")) == b"1"


def test_set_with_get_returns_previous(owner):
    data_of(owner.put(KV + "k", {"value": "old"}))
    assert data_of(owner.put(KV + "k", {"value": "new", "get": True}))["previous"] == "old"
    assert data_of(owner.put(KV + "fresh", {"value": "v", "get": True}))["previous"] is None
    assert data_redis().get(stored_key("k")) == b"new"


def test_set_keepttl(owner):
    data_of(owner.put(KV + "k", {"value": "v", "ttl": 100}))
    data_of(owner.put(KV + "k", {"value": "w", "keepttl": True}))
    assert 90_000 < data_of(owner.get(KV + "k"))["ttl_ms"] <= 100_000


def test_base64_value_in_and_out(owner):
    data_of(owner.put(KV + "blob?encoding=base64", {"value": "/wD+"}))
    assert data_redis().get(stored_key("blob")) == b"\xff\x00\xfe"
    data = data_of(owner.get(KV + "blob?encoding=base64"))
    assert data["value"] == "/wD+"
    assert data["encoding"] == "base64"


def test_text_read_as_base64(owner):
    data_of(owner.put(KV + "k", {"value": "hi"}))
    assert data_of(owner.get(KV + "k?encoding=base64"))["value"] == "aGk="


def test_invalid_base64_is_400(owner):
    response = owner.put(KV + "k?encoding=base64", {"value": "not base64!"})
    assert response.status_code == 400
    assert "value" in response.json()["error"]["fields"]
    assert data_redis().exists(stored_key("k")) == 0


def test_unknown_encoding_is_400(owner):
    response = owner.get(KV + "k?encoding=latin-1")
    assert response.status_code == 400
    assert error_code(response) == "invalid_encoding"


def test_exists(owner):
    assert data_of(owner.get(KV + "k?op=exists")) == {"key": "k", "exists": False}
    data_of(owner.put(KV + "k", {"value": "v"}))
    assert data_of(owner.get(KV + "k?op=exists")) == {"key": "k", "exists": True}


def test_expire_ttl_persist(owner):
    data_of(owner.put(KV + "k", {"value": "v"}))
    assert data_of(owner.get(KV + "k?op=ttl")) == {"key": "k", "exists": True, "ttl_ms": None}
    assert data_of(owner.post(KV + "k?op=expire", {"ttl": 50}))["applied"] is True
    assert 49_000 < data_of(owner.get(KV + "k?op=ttl"))["ttl_ms"] <= 50_000
    assert data_of(owner.post(KV + "k?op=expire", {"ttl": 10, "gt": True}))["applied"] is False
    assert data_of(owner.post(KV + "k?op=expire", {"ttl_ms": 500_000, "xx": True, "gt": True}))["applied"] is True
    assert data_of(owner.post(KV + "k?op=persist"))["persisted"] is True
    assert data_redis().ttl(stored_key("k")) == -1


def test_expire_missing_key(owner):
    assert data_of(owner.post(KV + "missing?op=expire", {"ttl": 5}))["applied"] is False
    assert data_of(owner.get(KV + "missing?op=ttl")) == {"key": "missing", "exists": False, "ttl_ms": None}


def test_expire_zero_deletes(owner):
    data_of(owner.put(KV + "k", {"value": "v"}))
    data_of(owner.post(KV + "k?op=expire", {"ttl": 0}))
    assert data_redis().exists(stored_key("k")) == 0


@pytest.mark.parametrize(
    "body, field",
    [({}, "ttl"), ({"ttl": 1, "ttl_ms": 1}, "ttl"), ({"ttl": -1}, "ttl"), ({"ttl": 1, "nx": True, "gt": True}, "gt")],
)
def test_invalid_expire_is_400(owner, body, field):
    response = owner.post(KV + "k?op=expire", body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_mset_and_mget(owner):
    data = data_of(owner.post(KV + "?op=mset", {"items": {"a": "1", "b/c": "2"}}))
    assert data == {"written": True, "count": 2}
    assert data_redis().get(stored_key("b/c")) == b"2"
    data = data_of(owner.get(KV + "?op=mget&key=a&key=b/c&key=missing"))
    assert data == {"values": {"a": "1", "b/c": "2", "missing": None}, "encoding": "utf-8"}


def test_msetnx_writes_all_or_none(owner):
    data_of(owner.put(KV + "a", {"value": "old"}))
    data = data_of(owner.post(KV + "?op=mset", {"items": {"a": "new", "b": "new"}, "nx": True}))
    assert data == {"written": False, "count": 0}
    assert data_redis().get(stored_key("a")) == b"old"
    assert data_redis().exists(stored_key("b")) == 0


def test_mset_limits(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    response = owner.post(KV + "?op=mset", {"items": {"a": "1", "b": "2", "c": "3"}})
    assert response.status_code == 413
    assert error_code(response) == "too_many_items"
    assert owner.post(KV + "?op=mset", {"items": {}}).status_code == 400
    assert stored_keys() == []


def test_mget_cannot_reach_other_namespace(owner):
    data_redis().set(stored_key("secret", "beta"), "x")
    data = data_of(owner.get(KV + "?op=mget&key=../beta/secret&key=ns:beta:secret"))
    assert data["values"] == {"../beta/secret": None, "ns:beta:secret": None}


def test_delete_many(owner):
    data_of(owner.post(KV + "?op=mset", {"items": {"a": "1", "b": "2"}}))
    assert data_of(owner.delete(KV + "?key=a&key=b&key=c")) == {"deleted": 2}
    assert stored_keys() == []


def test_reader_cannot_mset(reader):
    assert reader.post(KV + "?op=mset", {"items": {"a": "1"}}).status_code == 403


def test_float_past_double_range_stays_text(owner):
    data_of(owner.put(KV + "big", {"value": "1e308"}))
    value = data_of(owner.post(KV + "big?op=incr", {"by": 1e308}))["value"]
    assert isinstance(value, str)
    assert float(value.replace("e+", "e")) == float("inf")


def test_unknown_query_argument_is_400(owner):
    data_of(owner.put(KV + "k", {"value": "v"}))
    response = owner.delete(KV + "k?member=a")
    assert response.status_code == 400
    assert "member" in response.json()["error"]["fields"]
    assert data_redis().exists(stored_key("k")) == 1
