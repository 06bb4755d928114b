"""JSON bodies must be Unicode text: lone surrogate escapes are rejected with 400, nothing stored."""

import json

import pytest
from django.test import Client

from apps.api.parsers import InvalidJson, has_lone_surrogate, loads

from .conftest import stored_key, stored_keys, stored_redis

LONE_SURROGATES = [r'"\ud800"', r'"a\udfffb"', r'"\uDBFF"', r'"\ud83d"']


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_loads_rejects_lone_surrogate(text):
    with pytest.raises(InvalidJson):
        loads(b'{"value": ' + text.encode() + b"}")


def test_loads_keeps_surrogate_pair():
    assert loads(rb'{"value": "\ud83d\ude00"}') == {"value": "\U0001f600"}


@pytest.mark.parametrize("raw", [b'{"value": NaN}', b'{"value": -Infinity}', b"{", b'{"value": "\xff"}'])
def test_loads_rejects_non_json(raw):
    with pytest.raises(InvalidJson):
        loads(raw)


def test_walk_finds_surrogate_in_keys_and_lists():
    assert has_lone_surrogate({"ok": [1, {"\ud800": 2}]})
    assert has_lone_surrogate([["x", "\udc00"]])
    assert not has_lone_surrogate({"ok": [1, 2.5, None, True, "plain"]})


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_kv_put_with_lone_surrogate_is_400(owner, text):
    response = owner.put("/api/v1/ns/alpha/kv/k", raw=b'{"value": ' + text.encode() + b"}")
    body = response.json()
    assert response.status_code == 400
    assert body["ok"] is False
    assert "surrogate" in body["error"]["message"]
    assert stored_redis().get(stored_key("k")) is None


def test_kv_put_with_surrogate_pair_is_stored(owner):
    response = owner.put("/api/v1/ns/alpha/kv/k", raw=rb'{"value": "\ud83d\ude00"}')
    assert response.status_code == 200
    assert stored_redis().get(stored_key("k")) == "\U0001f600".encode()


def test_pipeline_with_lone_surrogate_key_is_400(owner):
    operations = [
        {"area": "kv", "op": "set", "key": "fine", "args": {"value": "v"}},
        {"area": "kv", "op": "set", "key": "KEY", "args": {"value": "v"}},
    ]
    raw = json.dumps({"operations": operations}).replace('"KEY"', r'"\ud800"').encode()
    response = owner.post("/api/v1/ns/alpha/pipeline", raw=raw)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert stored_keys() == []


def test_compat_command_with_lone_surrogate_is_400(owner_key):
    raw = rb'["SET", "k", "\udc00"]'
    response = Client().post(
        "/compat/upstash/ns/alpha", raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {owner_key}"
    )
    assert response.status_code == 400
    assert "error" in response.json()
    assert stored_redis().get(stored_key("k")) is None
