"""Hostile key names stay inside their namespace."""

from urllib.parse import quote

import pytest

from apps.core.redis import data_redis

from .conftest import stored_key, stored_keys

HOSTILE_NAMES = [
    "a/b",
    "../beta/secret",
    "..",
    "*",
    "?",
    "[ab]",
    "ns:beta:secret",
    ":beta:secret",
    "with space",
    "🔑🗝",
    "trailing/",
    "%2F",
    "a%2Fb",
    "\\back\\slash",
    "x" * 1024,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_name_stays_in_namespace(owner, outsider, name):
    path = "/api/v1/ns/alpha/kv/" + quote(name, safe="/")
    assert owner.put(path, {"value": "alpha-data"}).status_code == 200

    stored = {key.decode() for key in stored_keys()}
    assert stored == {stored_key(name)}
    body = owner.get(path).json()
    assert body["data"]["key"] == name
    assert body["data"]["value"] == "alpha-data"

    # The same name in beta is a different key, and beta's key cannot read alpha's.
    beta_path = "/api/v1/ns/beta/kv/" + quote(name, safe="/")
    assert outsider.get(beta_path).status_code == 404
    assert outsider.get(path).status_code == 403


def test_encoded_slash_equals_slash(owner):
    # WSGI decodes %2F before routing, so both spellings name the key "a/b".
    owner.put("/api/v1/ns/alpha/kv/a%2Fb", {"value": "v"})
    assert owner.get("/api/v1/ns/alpha/kv/a/b").json()["data"]["value"] == "v"
    assert {key.decode() for key in stored_keys()} == {stored_key("a/b")}


def test_glob_characters_are_not_patterns(owner):
    owner.put("/api/v1/ns/alpha/kv/apple", {"value": "v"})
    assert owner.get("/api/v1/ns/alpha/kv/*").status_code == 404
    assert owner.get("/api/v1/ns/alpha/kv/a%3F%3F%3F%3F").status_code == 404
    assert owner.delete("/api/v1/ns/alpha/kv/*").json()["data"]["deleted"] == 0
    assert data_redis().exists(stored_key("apple")) == 1


def test_empty_name_addresses_the_area_not_a_key(owner):
    response = owner.put("/api/v1/ns/alpha/kv/", {"value": "v"})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert stored_keys() == []


def test_name_over_limit_is_400(owner):
    response = owner.put("/api/v1/ns/alpha/kv/" + "x" * 1025, {"value": "v"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "key_too_long"
    assert stored_keys() == []


def test_multibyte_name_limit_counts_bytes(owner):
    response = owner.put("/api/v1/ns/alpha/kv/" + quote("가" * 342), {"value": "v"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "key_too_long"


@pytest.mark.parametrize("namespace", ["ALPHA", "alpha:x", "alpha%3Abeta", "..", "%2E%2E"])
def test_malformed_namespace_is_403(owner, namespace):
    response = owner.get(f"/api/v1/ns/{namespace}/kv/k")
    assert response.status_code == 403


def test_newline_in_name(owner):
    assert owner.put("/api/v1/ns/alpha/kv/a%0Ab", {"value": "v"}).status_code == 200
    assert data_redis().get(stored_key("a\nb")) == b"v"
    assert owner.get("/api/v1/ns/alpha/kv/a%0Ab").json()["data"]["key"] == "a\nb"


def test_unknown_route_with_post_is_json_404(owner):
    response = owner.post("/api/v1/ns/alpha/nothing%0Ahere", {"x": 1})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_found"
