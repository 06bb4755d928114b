"""Listing the keys of an area: confined to the namespace and to the area's type."""

from apps.core.redis import data_redis

from .conftest import stored_key


def list_all(client, area: str, pattern: str = "*", count: int = 10) -> list[str]:
    """Follow the cursor to the end, as a client must."""
    names, cursor = [], "0"
    while True:
        response = client.get(f"/api/v1/ns/alpha/{area}/?pattern={pattern}&cursor={cursor}&count={count}")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        names += data["keys"]
        cursor = data["cursor"]
        if cursor == "0":
            return sorted(names)


def test_listing_stays_in_namespace_and_area(owner):
    redis = data_redis()
    redis.set(stored_key("user:1"), "a")
    redis.set(stored_key("user:2"), "b")
    redis.hset(stored_key("user:3"), "f", "v")  # another area, same prefix
    redis.set(stored_key("user:1", "alphabet"), "x")  # a namespace whose name extends alpha
    redis.set(stored_key("user:1", "beta"), "y")
    redis.set("user:1", "outside any namespace")

    assert list_all(owner, "kv", "user:*") == ["user:1", "user:2"]
    assert list_all(owner, "kv") == ["user:1", "user:2"]
    assert list_all(owner, "kv", "*1") == ["user:1"]


def test_listing_pages_with_cursor(owner):
    for n in range(25):
        data_redis().set(stored_key(f"k{n}"), "v")
    assert list_all(owner, "kv", count=5) == sorted(f"k{n}" for n in range(25))


def test_listing_pattern_cannot_escape(owner):
    data_redis().set(stored_key("secret", "beta"), "y")
    for pattern in ["*", "../beta/*", "*beta*", "[a-z]*", "\\*"]:
        assert list_all(owner, "kv", pattern) == []


def test_listing_rejects_bad_cursor_and_count(owner):
    for query in ["cursor=-1", "cursor=abc", "count=0", "count=100000", "count=x"]:
        response = owner.get(f"/api/v1/ns/alpha/kv/?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "invalid"


def test_listing_needs_read(outsider):
    assert outsider.get("/api/v1/ns/alpha/kv/").status_code == 403
