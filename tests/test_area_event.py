"""The event area: Redis streams and consumer groups, against the real Redis."""

import re
import threading
import time
from urllib.parse import quote, urlencode

import httpx
import pytest

from apps.core.redis import data_redis

from .conftest import READ, WRITE, free_port, make_key, start_web, stored_key
from .envelopes import data_of, error_of

EVENT = "/api/v1/ns/alpha/event/"
ENTRY_ID = re.compile(r"[0-9]+-[0-9]+\Z")


def url(key: str, /, **query) -> str:
    path = EVENT + quote(key, safe="/")
    return f"{path}?{urlencode(query, doseq=True)}" if query else path


def entry_ids(response) -> list[str]:
    return [entry["id"] for entry in data_of(response)["entries"]]


def redis_key(key: str) -> str:
    return stored_key(key)


def xadd(key: str, entry_id: str = "*", **fields) -> str:
    pairs = [part for name, value in fields.items() for part in (name, value)]
    return data_redis().execute_command("XADD", redis_key(key), entry_id, *pairs).decode()


def stored(key: str) -> list[tuple[str, dict]]:
    """Every entry of a stream as (id, {field: value}) with bytes fields."""
    reply = data_redis().execute_command("XRANGE", redis_key(key), "-", "+")
    return [(raw_id.decode(), dict(zip(flat[0::2], flat[1::2], strict=True))) for raw_id, flat in reply]


def stored_ids(key: str) -> list[str]:
    return [entry_id for entry_id, _fields in stored(key)]


def as_dict(reply: list | dict) -> dict:
    """Read a map reply, RESP2 or RESP3, as a dict with text names."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[0::2], reply[1::2], strict=True)
    return {name.decode(): value for name, value in pairs}


def stored_groups(key: str) -> dict[str, dict]:
    reply = data_redis().execute_command("XINFO", "GROUPS", redis_key(key))
    groups = [as_dict(flat) for flat in reply]
    return {group["name"].decode(): group for group in groups}


def stored_pending(key: str, group: str) -> list[tuple[str, str, int]]:
    """The group's pending entries as (id, consumer, delivery count)."""
    reply = data_redis().execute_command("XPENDING", redis_key(key), group, "-", "+", 1000)
    return [(entry_id.decode(), consumer.decode(), count) for entry_id, consumer, _idle, count in reply]


def make_group(key: str, group: str = "g", start: str = "0") -> None:
    data_redis().execute_command("XGROUP", "CREATE", redis_key(key), group, start, "MKSTREAM")


def deliver(key: str, consumer: str, group: str = "g", count: int = 100) -> list[str]:
    reply = data_redis().execute_command(
        "XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", redis_key(key), ">"
    )
    if not reply:
        return []
    (entries,) = reply.values() if isinstance(reply, dict) else [entries for _key, entries in reply]
    return [raw_id.decode() for raw_id, _flat in entries]


def append_later(key: str, delay_s: float, **fields) -> threading.Thread:
    """Append an entry from another Redis connection after ``delay_s``."""

    def append():
        time.sleep(delay_s)
        xadd(key, **fields)

    thread = threading.Thread(target=append)
    thread.start()
    return thread


# Append


def test_add_generates_id(owner):
    data = data_of(owner.post(url("s"), {"fields": {"temp": "21.5", "room": "kitchen"}}))
    assert data["key"] == "s"
    assert data["added"] is True
    assert ENTRY_ID.match(data["id"])
    assert stored("s") == [(data["id"], {b"temp": b"21.5", b"room": b"kitchen"})]


def test_add_keeps_field_order(owner):
    data_of(owner.post(url("s"), {"fields": {"z": "1", "a": "2", "m": "3"}}))
    reply = data_redis().execute_command("XRANGE", redis_key("s"), "-", "+")
    assert reply[0][1] == [b"z", b"1", b"a", b"2", b"m", b"3"]


def test_add_explicit_ids(owner):
    assert data_of(owner.post(url("s"), {"fields": {"a": "1"}, "id": "5-1"}))["id"] == "5-1"
    assert data_of(owner.post(url("s"), {"fields": {"a": "2"}, "id": "6"}))["id"] == "6-0"
    assert data_of(owner.post(url("s"), {"fields": {"a": "3"}, "id": "6-*"}))["id"] == "6-1"
    assert data_of(owner.post(url("s"), {"fields": {"a": "4"}, "id": "*"}))["id"] != "6-1"
    assert stored_ids("s")[:3] == ["5-1", "6-0", "6-1"]


def test_add_id_not_above_top_is_409(owner):
    data_of(owner.post(url("s"), {"fields": {"a": "1"}, "id": "5-0"}))
    for entry_id in ("5-0", "4-9", "5"):
        error = error_of(owner.post(url("s"), {"fields": {"a": "2"}, "id": entry_id}), 409)
        assert error["code"] == "id_too_small"
    assert stored_ids("s") == ["5-0"]


def test_add_nomkstream_on_missing_stream(owner):
    data = data_of(owner.post(url("s"), {"fields": {"a": "1"}, "nomkstream": True}))
    assert data == {"key": "s", "added": False, "id": None}
    assert data_redis().exists(redis_key("s")) == 0


def test_add_nomkstream_on_existing_stream(owner):
    xadd("s", a="1")
    data = data_of(owner.post(url("s"), {"fields": {"a": "2"}, "nomkstream": True}))
    assert data["added"] is True
    assert len(stored("s")) == 2


def test_add_trims_by_maxlen(owner):
    for n in range(5):
        data_of(owner.post(url("s"), {"fields": {"n": str(n)}, "id": f"{n + 1}-0", "maxlen": 3}))
    assert stored_ids("s") == ["3-0", "4-0", "5-0"]


def test_add_trims_by_minid(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    data_of(owner.post(url("s"), {"fields": {"n": "9"}, "id": "9-0", "minid": "3"}))
    assert stored_ids("s") == ["3-0", "9-0"]


def test_add_approximate_trim_keeps_whole_nodes(owner):
    # Approximate trimming only evicts whole macro nodes (100 entries by default), so a short
    # stream keeps everything.
    for n in range(1, 6):
        body = {"fields": {"n": str(n)}, "id": f"{n}-0", "maxlen": 1, "approximate": True, "limit": 10}
        data_of(owner.post(url("s"), body))
    assert len(stored("s")) == 5


def test_add_base64_names_and_values(owner):
    data = data_of(owner.post(url("blob", encoding="base64"), {"fields": {"/wA=": "/wD+", "YQ==": ""}}))
    assert stored("blob") == [(data["id"], {b"\xff\x00": b"\xff\x00\xfe", b"a": b""})]
    entries = data_of(owner.get(url("blob", encoding="base64")))
    assert entries["encoding"] == "base64"
    assert entries["entries"] == [{"id": data["id"], "fields": {"/wA=": "/wD+", "YQ==": ""}}]


def test_binary_field_returns_base64(owner):
    entry_id = xadd("s", name=b"\xfe")
    data = data_of(owner.get(url("s")))
    assert data["encoding"] == "base64"
    assert data["entries"] == [{"id": entry_id, "fields": {"bmFtZQ==": "/g=="}}]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "fields"),
        ({"fields": {}}, "fields"),
        ({"fields": ["a", "1"]}, "fields"),
        ({"fields": {"a": 1}}, "fields"),
        ({"fields": {"a": None}}, "fields"),
        ({"fields": {"a": "1"}, "id": "abc"}, "id"),
        ({"fields": {"a": "1"}, "id": "0-0"}, "id"),
        ({"fields": {"a": "1"}, "id": "0"}, "id"),
        ({"fields": {"a": "1"}, "id": "1-2-3"}, "id"),
        ({"fields": {"a": "1"}, "id": "-"}, "id"),
        ({"fields": {"a": "1"}, "id": "$"}, "id"),
        ({"fields": {"a": "1"}, "id": "(1-0"}, "id"),
        ({"fields": {"a": "1"}, "id": " 1-0"}, "id"),
        ({"fields": {"a": "1"}, "id": "\u0661-0"}, "id"),  # ARABIC-INDIC DIGIT ONE: not an ASCII digit
        ({"fields": {"a": "1"}, "id": "18446744073709551616-0"}, "id"),
        ({"fields": {"a": "1"}, "id": "1-18446744073709551616"}, "id"),
        ({"fields": {"a": "1"}, "id": 5}, "id"),
        ({"fields": {"a": "1"}, "maxlen": -1}, "maxlen"),
        ({"fields": {"a": "1"}, "maxlen": "3"}, "maxlen"),
        ({"fields": {"a": "1"}, "maxlen": 3, "minid": "1"}, "minid"),
        ({"fields": {"a": "1"}, "minid": "*"}, "minid"),
        ({"fields": {"a": "1"}, "maxlen": 3, "limit": 10}, "limit"),
        ({"fields": {"a": "1"}, "approximate": True}, "approximate"),
        ({"fields": {"a": "1"}, "nomkstream": "yes"}, "nomkstream"),
        ({"fields": {"a": "1"}, "ttl": 5}, "ttl"),
    ],
)
def test_add_invalid_names_the_field(owner, body, field):
    error = error_of(owner.post(url("s"), body), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert data_redis().exists(redis_key("s")) == 0


def test_add_invalid_base64_is_400(owner):
    for fields in ({"not base64!": "YQ=="}, {"YQ==": "not base64!"}):
        error = error_of(owner.post(url("s", encoding="base64"), {"fields": fields}), 400)
        assert "fields" in error["fields"]
    assert data_redis().exists(redis_key("s")) == 0


def test_add_duplicate_decoded_names_is_400(owner):
    # "YQ==" and "YR==" both decode to b"a".
    error = error_of(owner.post(url("s", encoding="base64"), {"fields": {"YQ==": "MQ==", "YR==": "Mg=="}}), 400)
    assert "fields" in error["fields"]
    assert data_redis().exists(redis_key("s")) == 0


def test_add_limits_are_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    settings.REDGX_MAX_VALUE_BYTES = 4
    for fields in ({"a": "1", "b": "2", "c": "3"}, {"a": "12345"}, {"abcde": "1"}):
        response = owner.post(url("s"), {"fields": fields})
        assert response.status_code == 413
    assert error_of(owner.post(url("s"), {"fields": {"a": "1", "b": "2", "c": "3"}}), 413)["code"] == "too_many_items"
    assert data_redis().exists(redis_key("s")) == 0


# Ranges and length


def test_range_default_is_everything(owner):
    ids = [xadd("s", f"{n}-0", n=str(n)) for n in range(1, 4)]
    data = data_of(owner.get(url("s")))
    assert data["key"] == "s"
    assert data["encoding"] == "utf-8"
    assert data["entries"] == [{"id": entry_id, "fields": {"n": str(n)}} for n, entry_id in enumerate(ids, 1)]


def test_range_bounds_and_count(owner):
    for n in range(1, 6):
        xadd("s", f"{n}-0", n=str(n))
    assert entry_ids(owner.get(url("s", op="range", start="2", end="4"))) == ["2-0", "3-0", "4-0"]
    assert entry_ids(owner.get(url("s", start="(2-0", end="(5-0"))) == ["3-0", "4-0"]
    assert entry_ids(owner.get(url("s", start="-", end="+", count=2))) == ["1-0", "2-0"]
    assert entry_ids(owner.get(url("s", start="(2", count=1))) == ["3-0"]


def test_range_pages_with_exclusive_start(owner):
    for n in range(1, 6):
        xadd("s", f"{n}-0", n=str(n))
    seen, start = [], "-"
    while True:
        entries = data_of(owner.get(url("s", start=start, count=2)))["entries"]
        if not entries:
            break
        seen += [entry["id"] for entry in entries]
        start = "(" + entries[-1]["id"]
    assert seen == stored_ids("s")


def test_range_count_defaults_to_limit(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 3
    for n in range(1, 6):
        xadd("s", f"{n}-0", n=str(n))
    assert len(data_of(owner.get(url("s")))["entries"]) == 3
    assert error_of(owner.get(url("s", count=4)), 413)["code"] == "too_many_items"


def test_revrange_is_newest_first(owner):
    for n in range(1, 6):
        xadd("s", f"{n}-0", n=str(n))
    data = data_of(owner.get(url("s", op="revrange", start="2", end="(5-0", count=2)))
    assert [entry["id"] for entry in data["entries"]] == ["4-0", "3-0"]
    data = data_of(owner.get(url("s", op="revrange")))
    assert [entry["id"] for entry in data["entries"]] == ["5-0", "4-0", "3-0", "2-0", "1-0"]


def test_range_of_missing_stream_is_empty(owner):
    assert data_of(owner.get(url("missing"))) == {"key": "missing", "entries": [], "encoding": "utf-8"}
    assert data_of(owner.get(url("missing", op="revrange")))["entries"] == []


@pytest.mark.parametrize(
    "query, field",
    [
        ({"start": "abc"}, "start"),
        ({"start": "(-"}, "start"),
        ({"end": "(+"}, "end"),
        ({"start": "$"}, "start"),
        ({"end": ">"}, "end"),
        ({"start": "*"}, "start"),
        ({"start": "(18446744073709551615-18446744073709551615"}, "start"),
        ({"end": "(0-0"}, "end"),
        ({"count": "0"}, "count"),
        ({"count": "-1"}, "count"),
        ({"count": "many"}, "count"),
        ({"reverse": "true"}, "reverse"),
    ],
)
def test_range_invalid_names_the_field(owner, query, field):
    xadd("s", a="1")
    for op in ("range", "revrange"):
        error = error_of(owner.get(url("s", op=op, **query)), 400)
        assert field in error["fields"]


def test_len(owner):
    assert data_of(owner.get(url("s", op="len"))) == {"key": "s", "length": 0}
    for n in range(3):
        xadd("s", n=str(n))
    assert data_of(owner.get(url("s", op="len"))) == {"key": "s", "length": 3}


# Reads without a group


def test_read_several_streams(owner):
    xadd("a", "1-0", n="1")
    xadd("a", "2-0", n="2")
    xadd("b/c", "5-0", m="5")
    data = data_of(owner.get(url("a", op="read", key=["b/c", "missing"], id=["1-0", "0", "0-0"])))
    assert data["key"] == "a"
    assert data["encoding"] == "utf-8"
    assert data["streams"] == {
        "a": [{"id": "2-0", "fields": {"n": "2"}}],
        "b/c": [{"id": "5-0", "fields": {"m": "5"}}],
        "missing": [],
    }


def test_read_defaults_to_the_start(owner):
    xadd("a", "1-0", n="1")
    data = data_of(owner.get(url("a", op="read")))
    assert data["streams"] == {"a": [{"id": "1-0", "fields": {"n": "1"}}]}


def test_read_count_per_stream(owner, settings):
    for n in range(1, 4):
        xadd("a", f"{n}-0", n=str(n))
        xadd("b", f"{n}-0", n=str(n))
    data = data_of(owner.get(url("a", op="read", key="b", count=1)))
    assert [entry["id"] for entry in data["streams"]["a"]] == ["1-0"]
    assert [entry["id"] for entry in data["streams"]["b"]] == ["1-0"]
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 4
    assert error_of(owner.get(url("a", op="read", key="b", count=3)), 413)["code"] == "too_many_items"
    response = owner.get(url("a", op="read", key=["b", "c", "d", "e"], id=["0"] * 5))
    assert error_of(response, 413)["code"] == "too_many_items"
    data = data_of(owner.get(url("a", op="read", key="b")))
    assert len(data["streams"]["a"]) == 2
    assert len(data["streams"]["b"]) == 2


@pytest.mark.parametrize(
    "query, field",
    [
        ({"key": "b", "id": "0"}, "id"),
        ({"id": ["0", "0"]}, "id"),
        ({"id": "+"}, "id"),
        ({"id": ">"}, "id"),
        ({"id": "(1-0"}, "id"),
        ({"key": ["b", "b"], "id": ["0", "0", "0"]}, "key"),
        ({"key": "a", "id": ["0", "0"]}, "key"),
        ({"timeout_ms": "100"}, "timeout_ms"),
    ],
)
def test_read_invalid_names_the_field(owner, query, field):
    error = error_of(owner.get(url("a", op="read", **query)), 400)
    assert field in error["fields"]


def test_read_cannot_reach_other_namespace(owner):
    data_redis().execute_command("XADD", "ns:beta:secret", "1-0", "f", "v")
    data = data_of(owner.get(url("a", op="read", key=["../beta/secret", "ns:beta:secret"], id=["0", "0", "0"])))
    assert data["streams"] == {"a": [], "../beta/secret": [], "ns:beta:secret": []}


def test_readblock_times_out_empty(owner):
    xadd("a", "1-0", n="1")
    started = time.monotonic()
    data = data_of(owner.get(url("a", op="readblock", timeout_ms=100)))
    assert time.monotonic() - started >= 0.1
    assert data["streams"] == {"a": []}


def test_readblock_returns_on_append(owner):
    thread = append_later("b", 0.1, n="new")
    started = time.monotonic()
    data = data_of(owner.get(url("a", op="readblock", key="b", id=["0", "0"], timeout_ms=3000)))
    elapsed = time.monotonic() - started
    thread.join()
    assert data["streams"]["a"] == []
    assert [entry["fields"] for entry in data["streams"]["b"]] == [{"n": "new"}]
    assert elapsed < 2.5


@pytest.mark.parametrize("timeout_ms", [None, "0", "-5", "1.5", "999999999"])
def test_readblock_needs_valid_timeout(owner, timeout_ms):
    query = {"op": "readblock"} if timeout_ms is None else {"op": "readblock", "timeout_ms": timeout_ms}
    error = error_of(owner.get(url("a", **query)), 400)
    assert "timeout_ms" in error["fields"]


# Delete entries and trim


def test_del_entries(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    assert data_of(owner.delete(url("s", op="del", id=["1-0", "3", "9-0"]))) == {"key": "s", "deleted": 2}
    assert stored_ids("s") == ["2-0"]
    assert data_of(owner.delete(url("missing", op="del", id="1-0")))["deleted"] == 0


@pytest.mark.parametrize("query", [{}, {"id": "*"}, {"id": "-"}, {"id": "x"}])
def test_del_invalid_id_is_400(owner, query):
    xadd("s", "1-0", n="1")
    error = error_of(owner.delete(url("s", op="del", **query)), 400)
    assert "id" in error["fields"]
    assert stored_ids("s") == ["1-0"]


def test_del_too_many_ids_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert error_of(owner.delete(url("s", op="del", id=["1", "2", "3"])), 413)["code"] == "too_many_items"


def test_trim_maxlen_and_minid(owner):
    for n in range(1, 7):
        xadd("s", f"{n}-0", n=str(n))
    assert data_of(owner.post(url("s", op="trim"), {"maxlen": 4})) == {"key": "s", "deleted": 2}
    assert stored_ids("s") == ["3-0", "4-0", "5-0", "6-0"]
    assert data_of(owner.post(url("s", op="trim"), {"minid": "5-0"}))["deleted"] == 2
    assert stored_ids("s") == ["5-0", "6-0"]


def test_trim_approximate(owner):
    for n in range(1, 251):
        xadd("s", f"{n}-0", n=str(n))
    data = data_of(owner.post(url("s", op="trim"), {"maxlen": 10, "approximate": True, "limit": 0}))
    # Whole macro nodes of 100 entries go, so 50 to 149 entries remain.
    assert data["deleted"] in (100, 200)
    assert len(stored("s")) == 250 - data["deleted"]
    data = data_of(owner.post(url("s", op="trim"), {"minid": "1000", "approximate": True}))
    assert len(stored("s")) < 100


def test_trim_missing_stream(owner):
    assert data_of(owner.post(url("missing", op="trim"), {"maxlen": 0})) == {"key": "missing", "deleted": 0}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "maxlen"),
        ({"maxlen": 1, "minid": "1"}, "minid"),
        ({"maxlen": 1, "limit": 5}, "limit"),
        ({"limit": 5, "approximate": True}, "maxlen"),
        ({"minid": "+"}, "minid"),
        ({"maxlen": 1.5}, "maxlen"),
        ({"maxlen": 1, "approximate": "yes"}, "approximate"),
        ({"maxlen": 1, "limit": -1, "approximate": True}, "limit"),
    ],
)
def test_trim_invalid_names_the_field(owner, body, field):
    xadd("s", "1-0", n="1")
    error = error_of(owner.post(url("s", op="trim"), body), 400)
    assert field in error["fields"]
    assert stored_ids("s") == ["1-0"]


# Consumer groups


def test_creategroup_from_start(owner):
    xadd("s", "1-0", n="1")
    data = data_of(owner.post(url("s", op="creategroup"), {"group": "workers", "id": "0"}))
    assert data == {"key": "s", "group": "workers", "created": True}
    assert stored_groups("s")["workers"]["last-delivered-id"] == b"0-0"
    assert deliver("s", "c", group="workers") == ["1-0"]


def test_creategroup_defaults_to_new_entries(owner):
    xadd("s", "1-0", n="1")
    data_of(owner.post(url("s", op="creategroup"), {"group": "g"}))
    assert stored_groups("s")["g"]["last-delivered-id"] == b"1-0"
    assert deliver("s", "c") == []


def test_creategroup_with_entries_read(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    data_of(owner.post(url("s", op="creategroup"), {"group": "g", "id": "2-0", "entries_read": 2}))
    group = stored_groups("s")["g"]
    assert group["entries-read"] == 2
    assert group["lag"] == 1


def test_creategroup_missing_stream_is_404(owner):
    error = error_of(owner.post(url("s", op="creategroup"), {"group": "g"}), 404)
    assert error["code"] == "key_not_found"
    assert data_redis().exists(redis_key("s")) == 0


def test_creategroup_mkstream(owner):
    data_of(owner.post(url("s", op="creategroup"), {"group": "g", "mkstream": True}))
    assert data_redis().type(redis_key("s")) == b"stream"
    assert list(stored_groups("s")) == ["g"]


def test_creategroup_twice_is_409(owner):
    make_group("s")
    error = error_of(owner.post(url("s", op="creategroup"), {"group": "g", "id": "0"}), 409)
    assert error["code"] == "group_exists"
    assert list(stored_groups("s")) == ["g"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "group"),
        ({"group": ""}, "group"),
        ({"group": 5}, "group"),
        ({"group": "g", "id": "+"}, "id"),
        ({"group": "g", "id": ">"}, "id"),
        ({"group": "g", "id": "-"}, "id"),
        ({"group": "g", "entries_read": -1}, "entries_read"),
        ({"group": "g", "mkstream": 1}, "mkstream"),
    ],
)
def test_creategroup_invalid_names_the_field(owner, body, field):
    error = error_of(owner.post(url("s", op="creategroup"), {"mkstream": True, **body}), 400)
    assert field in error["fields"]
    assert data_redis().exists(redis_key("s")) == 0


def test_group_name_over_limit_is_400(owner, settings):
    settings.REDGX_MAX_KEY_BYTES = 8
    error = error_of(owner.post(url("s", op="creategroup"), {"group": "g" * 9, "mkstream": True}), 400)
    assert "group" in error["fields"]


def test_destroygroup(owner):
    make_group("s")
    assert data_of(owner.delete(url("s", op="destroygroup", group="g"))) == {
        "key": "s",
        "group": "g",
        "destroyed": True,
    }
    assert stored_groups("s") == {}
    assert data_of(owner.delete(url("s", op="destroygroup", group="g")))["destroyed"] is False


def test_destroygroup_missing_stream_is_404(owner):
    assert error_of(owner.delete(url("s", op="destroygroup", group="g")), 404)["code"] == "key_not_found"


def test_createconsumer_and_delconsumer(owner):
    xadd("s", "1-0", n="1")
    xadd("s", "2-0", n="2")
    make_group("s")
    body = {"group": "g", "consumer": "c1"}
    assert data_of(owner.post(url("s", op="createconsumer"), body)) == {
        "key": "s",
        "group": "g",
        "consumer": "c1",
        "created": True,
    }
    assert stored_groups("s")["g"]["consumers"] == 1
    assert data_of(owner.post(url("s", op="createconsumer"), body))["created"] is False

    deliver("s", "c1")
    data = data_of(owner.delete(url("s", op="delconsumer", group="g", consumer="c1")))
    assert data == {"key": "s", "group": "g", "consumer": "c1", "deleted_pending": 2}
    assert stored_groups("s")["g"]["consumers"] == 0
    assert stored_pending("s", "g") == []
    assert data_of(owner.delete(url("s", op="delconsumer", group="g", consumer="c1")))["deleted_pending"] == 0


def test_consumer_ops_on_missing_group_are_404(owner):
    xadd("s", "1-0", n="1")
    response = owner.post(url("s", op="createconsumer"), {"group": "nope", "consumer": "c"})
    assert error_of(response, 404)["code"] == "group_not_found"
    response = owner.delete(url("s", op="delconsumer", group="nope", consumer="c"))
    assert error_of(response, 404)["code"] == "group_not_found"
    response = owner.post(url("missing", op="createconsumer"), {"group": "g", "consumer": "c"})
    assert error_of(response, 404)["code"] == "key_not_found"


def test_setid(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s", start="$")
    data = data_of(owner.post(url("s", op="setid"), {"group": "g", "id": "1-0", "entries_read": 1}))
    assert data == {"key": "s", "group": "g", "id": "1-0"}
    group = stored_groups("s")["g"]
    assert group["last-delivered-id"] == b"1-0"
    assert group["lag"] == 2
    assert deliver("s", "c") == ["2-0", "3-0"]
    data_of(owner.post(url("s", op="setid"), {"group": "g", "id": "0"}))
    assert stored_groups("s")["g"]["last-delivered-id"] == b"0-0"
    data_of(owner.post(url("s", op="setid"), {"group": "g", "id": "$"}))
    assert stored_groups("s")["g"]["last-delivered-id"] == b"3-0"


def test_setid_errors(owner):
    xadd("s", "1-0", n="1")
    assert error_of(owner.post(url("s", op="setid"), {"group": "nope", "id": "0"}), 404)["code"] == "group_not_found"
    assert error_of(owner.post(url("missing", op="setid"), {"group": "g", "id": "0"}), 404)["code"] == "key_not_found"
    assert "id" in error_of(owner.post(url("s", op="setid"), {"group": "g"}), 400)["fields"]
    assert "id" in error_of(owner.post(url("s", op="setid"), {"group": "g", "id": ">"}), 400)["fields"]


# Reading as a group member


def test_readgroup_delivers_new_entries_once(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    body = {"group": "g", "consumer": "c1", "count": 2}
    data = data_of(owner.post(url("s", op="readgroup"), body))
    assert data == {
        "key": "s",
        "group": "g",
        "consumer": "c1",
        "entries": [{"id": "1-0", "fields": {"n": "1"}}, {"id": "2-0", "fields": {"n": "2"}}],
        "encoding": "utf-8",
    }
    assert [entry["id"] for entry in data_of(owner.post(url("s", op="readgroup"), body))["entries"]] == ["3-0"]
    assert data_of(owner.post(url("s", op="readgroup"), body))["entries"] == []
    assert stored_pending("s", "g") == [("1-0", "c1", 1), ("2-0", "c1", 1), ("3-0", "c1", 1)]


def test_readgroup_noack_leaves_nothing_pending(owner):
    xadd("s", "1-0", n="1")
    make_group("s")
    data = data_of(owner.post(url("s", op="readgroup"), {"group": "g", "consumer": "c", "noack": True}))
    assert [entry["id"] for entry in data["entries"]] == ["1-0"]
    assert stored_pending("s", "g") == []


def test_readgroup_rereads_pending_history(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1")
    data_redis().execute_command("XDEL", redis_key("s"), "2-0")
    data = data_of(owner.post(url("s", op="readgroup"), {"group": "g", "consumer": "c1", "id": "0"}))
    assert data["entries"] == [
        {"id": "1-0", "fields": {"n": "1"}},
        {"id": "2-0", "fields": None},
        {"id": "3-0", "fields": {"n": "3"}},
    ]
    data = data_of(owner.post(url("s", op="readgroup"), {"group": "g", "consumer": "c1", "id": "2-0"}))
    assert [entry["id"] for entry in data["entries"]] == ["3-0"]
    other = data_of(owner.post(url("s", op="readgroup"), {"group": "g", "consumer": "c2", "id": "0"}))
    assert other["entries"] == []


def test_readgroup_missing_group_is_404(owner):
    xadd("s", "1-0", n="1")
    for key in ("s", "missing"):
        response = owner.post(url(key, op="readgroup"), {"group": "nope", "consumer": "c"})
        assert error_of(response, 404)["code"] == "group_not_found"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"consumer": "c"}, "group"),
        ({"group": "g"}, "consumer"),
        ({"group": "g", "consumer": ""}, "consumer"),
        ({"group": "g", "consumer": "c", "id": "$"}, "id"),
        ({"group": "g", "consumer": "c", "id": "+"}, "id"),
        ({"group": "g", "consumer": "c", "count": 0}, "count"),
        ({"group": "g", "consumer": "c", "noack": "true"}, "noack"),
        ({"group": "g", "consumer": "c", "timeout_ms": 100}, "timeout_ms"),
    ],
)
def test_readgroup_invalid_names_the_field(owner, body, field):
    make_group("s")
    error = error_of(owner.post(url("s", op="readgroup"), body), 400)
    assert field in error["fields"]


def test_readgroup_count_over_limit_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    make_group("s")
    response = owner.post(url("s", op="readgroup"), {"group": "g", "consumer": "c", "count": 3})
    assert error_of(response, 413)["code"] == "too_many_items"


def test_readgroupblock_times_out_empty(owner):
    make_group("s")
    started = time.monotonic()
    body = {"group": "g", "consumer": "c", "timeout_ms": 100}
    data = data_of(owner.post(url("s", op="readgroupblock"), body))
    assert time.monotonic() - started >= 0.1
    assert data["entries"] == []


def test_readgroupblock_returns_on_append(owner):
    make_group("s")
    thread = append_later("s", 0.1, n="new")
    started = time.monotonic()
    body = {"group": "g", "consumer": "c", "timeout_ms": 3000}
    data = data_of(owner.post(url("s", op="readgroupblock"), body))
    elapsed = time.monotonic() - started
    thread.join()
    assert [entry["fields"] for entry in data["entries"]] == [{"n": "new"}]
    assert elapsed < 2.5
    assert [consumer for _id, consumer, _count in stored_pending("s", "g")] == ["c"]


def test_readgroupblock_errors(owner):
    body = {"group": "nope", "consumer": "c", "timeout_ms": 100}
    assert error_of(owner.post(url("s", op="readgroupblock"), body), 404)["code"] == "group_not_found"
    error = error_of(owner.post(url("s", op="readgroupblock"), {"group": "g", "consumer": "c"}), 400)
    assert "timeout_ms" in error["fields"]


# Pending entries


def test_ack(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c")
    data = data_of(owner.post(url("s", op="ack"), {"group": "g", "ids": ["1-0", "2", "9-0"]}))
    assert data == {"key": "s", "group": "g", "acknowledged": 2}
    assert stored_pending("s", "g") == [("3-0", "c", 1)]
    assert data_of(owner.post(url("s", op="ack"), {"group": "g", "ids": ["1-0"]}))["acknowledged"] == 0
    assert data_of(owner.post(url("s", op="ack"), {"group": "nope", "ids": ["3-0"]}))["acknowledged"] == 0


@pytest.mark.parametrize(
    "body, field",
    [({"group": "g"}, "ids"), ({"group": "g", "ids": []}, "ids"), ({"group": "g", "ids": ["*"]}, "ids")],
)
def test_ack_invalid_names_the_field(owner, body, field):
    error = error_of(owner.post(url("s", op="ack"), body), 400)
    assert field in error["fields"]


def test_pending_summary(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    empty = data_of(owner.get(url("s", op="pending", group="g")))
    assert empty == {"key": "s", "group": "g", "count": 0, "min_id": None, "max_id": None, "consumers": {}}
    deliver("s", "c1", count=2)
    deliver("s", "c2")
    data = data_of(owner.get(url("s", op="pending", group="g")))
    assert data == {
        "key": "s",
        "group": "g",
        "count": 3,
        "min_id": "1-0",
        "max_id": "3-0",
        "consumers": {"c1": 2, "c2": 1},
    }


def test_pending_detail_after_read(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1", count=2)
    deliver("s", "c2")
    data = data_of(owner.get(url("s", op="pending", group="g", count=10)))
    assert [(entry["id"], entry["consumer"], entry["delivery_count"]) for entry in data["pending"]] == [
        ("1-0", "c1", 1),
        ("2-0", "c1", 1),
        ("3-0", "c2", 1),
    ]
    assert all(entry["idle_ms"] >= 0 for entry in data["pending"])
    data = data_of(owner.get(url("s", op="pending", group="g", count=10, consumer="c1", start="(1-0")))
    assert [entry["id"] for entry in data["pending"]] == ["2-0"]
    data = data_of(owner.get(url("s", op="pending", group="g", count=1, end="3")))
    assert [entry["id"] for entry in data["pending"]] == ["1-0"]
    data = data_of(owner.get(url("s", op="pending", group="g", count=10, idle_ms=60_000)))
    assert data["pending"] == []


def test_pending_missing_group_is_404(owner):
    xadd("s", "1-0", n="1")
    for key in ("s", "missing"):
        assert error_of(owner.get(url(key, op="pending", group="g")), 404)["code"] == "group_not_found"


@pytest.mark.parametrize(
    "query, field",
    [
        ({}, "group"),
        ({"group": "g", "start": "-"}, "count"),
        ({"group": "g", "consumer": "c"}, "count"),
        ({"group": "g", "idle_ms": "5"}, "count"),
        ({"group": "g", "count": "10", "idle_ms": "-1"}, "idle_ms"),
        ({"group": "g", "count": "10", "start": "$"}, "start"),
        ({"group": "g", "count": "0"}, "count"),
    ],
)
def test_pending_invalid_names_the_field(owner, query, field):
    make_group("s")
    error = error_of(owner.get(url("s", op="pending", **query)), 400)
    assert field in error["fields"]


def test_claim_moves_ownership(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0, "ids": ["1-0", "2-0"]}
    data = data_of(owner.post(url("s", op="claim"), body))
    assert data == {
        "key": "s",
        "group": "g",
        "consumer": "c2",
        "entries": [{"id": "1-0", "fields": {"n": "1"}}, {"id": "2-0", "fields": {"n": "2"}}],
        "encoding": "utf-8",
    }
    assert stored_pending("s", "g") == [("1-0", "c2", 2), ("2-0", "c2", 2), ("3-0", "c1", 1)]


def test_claim_respects_min_idle(owner):
    xadd("s", "1-0", n="1")
    make_group("s")
    deliver("s", "c1")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 60_000, "ids": ["1-0"]}
    assert data_of(owner.post(url("s", op="claim"), body))["entries"] == []
    assert stored_pending("s", "g") == [("1-0", "c1", 1)]


def test_claim_justid_keeps_delivery_count(owner):
    xadd("s", "1-0", n="1")
    make_group("s")
    deliver("s", "c1")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0, "ids": ["1"], "justid": True}
    data = data_of(owner.post(url("s", op="claim"), body))
    assert data == {"key": "s", "group": "g", "consumer": "c2", "ids": ["1-0"]}
    assert stored_pending("s", "g") == [("1-0", "c2", 1)]


def test_claim_options(owner):
    xadd("s", "1-0", n="1")
    xadd("s", "2-0", n="2")
    make_group("s")
    deliver("s", "c1", count=1)
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0, "ids": ["1-0"], "idle_ms": 90_000, "retrycount": 7}
    data_of(owner.post(url("s", op="claim"), body))
    (entry,) = data_of(owner.get(url("s", op="pending", group="g", count=10)))["pending"]
    assert entry["delivery_count"] == 7
    assert entry["idle_ms"] >= 90_000

    body = {"group": "g", "consumer": "c3", "min_idle_ms": 0, "ids": ["1-0"], "time_ms": int(time.time() * 1000)}
    data_of(owner.post(url("s", op="claim"), body))
    (entry,) = data_of(owner.get(url("s", op="pending", group="g", count=10)))["pending"]
    assert entry["consumer"] == "c3"
    assert entry["idle_ms"] < 60_000

    body = {"group": "g", "consumer": "c4", "min_idle_ms": 0, "ids": ["2-0"]}
    assert data_of(owner.post(url("s", op="claim"), body))["entries"] == []
    data = data_of(owner.post(url("s", op="claim"), {**body, "force": True}))
    assert [entry["id"] for entry in data["entries"]] == ["2-0"]
    assert [(entry_id, consumer) for entry_id, consumer, _count in stored_pending("s", "g")] == [
        ("1-0", "c3"),
        ("2-0", "c4"),
    ]


def test_claim_skips_deleted_entries(owner):
    xadd("s", "1-0", n="1")
    xadd("s", "2-0", n="2")
    make_group("s")
    deliver("s", "c1")
    data_redis().execute_command("XDEL", redis_key("s"), "1-0")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0, "ids": ["1-0", "2-0"]}
    data = data_of(owner.post(url("s", op="claim"), body))
    assert [entry["id"] for entry in data["entries"]] == ["2-0"]


def test_claim_missing_group_is_404(owner):
    xadd("s", "1-0", n="1")
    body = {"group": "nope", "consumer": "c", "min_idle_ms": 0, "ids": ["1-0"]}
    assert error_of(owner.post(url("s", op="claim"), body), 404)["code"] == "group_not_found"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"ids": ["1-0"]}, "min_idle_ms"),
        ({"min_idle_ms": -1, "ids": ["1-0"]}, "min_idle_ms"),
        ({"min_idle_ms": 0}, "ids"),
        ({"min_idle_ms": 0, "ids": ["$"]}, "ids"),
        ({"min_idle_ms": 0, "ids": ["1-0"], "idle_ms": 5, "time_ms": 5}, "time_ms"),
        ({"min_idle_ms": 0, "ids": ["1-0"], "retrycount": -1}, "retrycount"),
        ({"min_idle_ms": 0, "ids": ["1-0"], "lastid": "1-0"}, "lastid"),
    ],
)
def test_claim_invalid_names_the_field(owner, body, field):
    make_group("s")
    error = error_of(owner.post(url("s", op="claim"), {"group": "g", "consumer": "c", **body}), 400)
    assert field in error["fields"]


def test_autoclaim_after_deleting_entries(owner):
    for n in range(1, 5):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1")
    data_redis().execute_command("XDEL", redis_key("s"), "2-0", "3-0")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0}
    data = data_of(owner.post(url("s", op="autoclaim"), body))
    assert data == {
        "key": "s",
        "group": "g",
        "consumer": "c2",
        "next_start": "0-0",
        "entries": [{"id": "1-0", "fields": {"n": "1"}}, {"id": "4-0", "fields": {"n": "4"}}],
        "encoding": "utf-8",
        "deleted_ids": ["2-0", "3-0"],
    }
    assert stored_pending("s", "g") == [("1-0", "c2", 2), ("4-0", "c2", 2)]


def test_autoclaim_pages_and_justid(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0, "count": 2, "justid": True}
    first = data_of(owner.post(url("s", op="autoclaim"), body))
    assert first["ids"] == ["1-0", "2-0"]
    assert first["next_start"] == "3-0"
    assert first["deleted_ids"] == []
    second = data_of(owner.post(url("s", op="autoclaim"), {**body, "start": first["next_start"]}))
    assert second["ids"] == ["3-0"]
    assert second["next_start"] == "0-0"
    assert stored_pending("s", "g") == [("1-0", "c2", 1), ("2-0", "c2", 1), ("3-0", "c2", 1)]


def test_autoclaim_start_forms(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1")
    body = {"group": "g", "consumer": "c2", "min_idle_ms": 0, "justid": True}
    assert data_of(owner.post(url("s", op="autoclaim"), {**body, "start": "(1-0"}))["ids"] == ["2-0", "3-0"]
    assert data_of(owner.post(url("s", op="autoclaim"), {**body, "start": "-"}))["ids"] == ["1-0", "2-0", "3-0"]


def test_autoclaim_errors(owner, settings):
    xadd("s", "1-0", n="1")
    body = {"group": "nope", "consumer": "c", "min_idle_ms": 0}
    assert error_of(owner.post(url("s", op="autoclaim"), body), 404)["code"] == "group_not_found"
    make_group("s")
    body = {"group": "g", "consumer": "c"}
    assert "min_idle_ms" in error_of(owner.post(url("s", op="autoclaim"), body), 400)["fields"]
    body = {"group": "g", "consumer": "c", "min_idle_ms": 0, "start": "+"}
    assert "start" in error_of(owner.post(url("s", op="autoclaim"), body), 400)["fields"]
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 5
    body = {"group": "g", "consumer": "c", "min_idle_ms": 0, "count": 6}
    assert error_of(owner.post(url("s", op="autoclaim"), body), 413)["code"] == "too_many_items"


# Info


def test_info_summary(owner):
    xadd("s", "1-0", n="1")
    xadd("s", "2-0", n="2")
    make_group("s")
    data = data_of(owner.get(url("s", op="info")))
    assert data["key"] == "s"
    assert data["length"] == 2
    assert data["last_generated_id"] == "2-0"
    assert data["groups"] == 1
    assert data["first_entry"] == {"id": "1-0", "fields": {"n": "1"}}
    assert data["last_entry"] == {"id": "2-0", "fields": {"n": "2"}}
    assert data["encoding"] == "utf-8"


def test_info_of_empty_stream(owner):
    make_group("s")
    data = data_of(owner.get(url("s", op="info")))
    assert data["length"] == 0
    assert data["first_entry"] is None
    assert data["last_entry"] is None


def test_info_full(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s")
    deliver("s", "c1", count=2)
    data = data_of(owner.get(url("s", op="info", full="true", count=2)))
    assert data["length"] == 3
    assert [entry["id"] for entry in data["entries"]] == ["1-0", "2-0"]
    (group,) = data["groups"]
    assert group["name"] == "g"
    assert group["last_delivered_id"] == "2-0"
    assert group["pel_count"] == 2
    assert [(entry["id"], entry["consumer"], entry["delivery_count"]) for entry in group["pending"]] == [
        ("1-0", "c1", 1),
        ("2-0", "c1", 1),
    ]
    (consumer,) = group["consumers"]
    assert consumer["name"] == "c1"
    assert consumer["pel_count"] == 2
    assert [entry["id"] for entry in consumer["pending"]] == ["1-0", "2-0"]
    assert all(isinstance(entry["delivery_time"], int) for entry in consumer["pending"])


def test_info_full_binary_entries(owner):
    xadd("s", "1-0", n=b"\xff")
    data = data_of(owner.get(url("s", op="info", full="true")))
    assert data["encoding"] == "base64"
    assert data["entries"] == [{"id": "1-0", "fields": {"bg==": "/w=="}}]


def test_info_missing_stream_is_404(owner):
    for op in ("info", "groups"):
        assert error_of(owner.get(url("missing", op=op)), 404)["code"] == "key_not_found"
    assert error_of(owner.get(url("missing", op="consumers", group="g")), 404)["code"] == "key_not_found"


def test_info_count_needs_full(owner):
    xadd("s", "1-0", n="1")
    assert "count" in error_of(owner.get(url("s", op="info", count=5)), 400)["fields"]
    assert "count" in error_of(owner.get(url("s", op="info", full="true", count=0)), 400)["fields"]


def test_groups_info(owner):
    for n in range(1, 4):
        xadd("s", f"{n}-0", n=str(n))
    make_group("s", "a")
    make_group("s", "b", start="$")
    deliver("s", "c1", group="a", count=1)
    data = data_of(owner.get(url("s", op="groups")))
    assert data["key"] == "s"
    groups = {group["name"]: group for group in data["groups"]}
    assert groups["a"]["consumers"] == 1
    assert groups["a"]["pending"] == 1
    assert groups["a"]["last_delivered_id"] == "1-0"
    assert groups["a"]["lag"] == 2
    assert groups["b"]["last_delivered_id"] == "3-0"


def test_consumers_info(owner):
    xadd("s", "1-0", n="1")
    make_group("s")
    deliver("s", "c1")
    data = data_of(owner.get(url("s", op="consumers", group="g")))
    assert data["key"] == "s"
    assert data["group"] == "g"
    (consumer,) = data["consumers"]
    assert consumer["name"] == "c1"
    assert consumer["pending"] == 1
    assert consumer["idle"] >= 0
    assert error_of(owner.get(url("s", op="consumers", group="nope")), 404)["code"] == "group_not_found"
    assert "group" in error_of(owner.get(url("s", op="consumers")), 400)["fields"]


# Permissions, types and key names


@pytest.mark.parametrize(
    "method, query, body",
    [
        ("post", {}, {"fields": {"a": "1"}}),
        ("post", {"op": "trim"}, {"maxlen": 0}),
        ("delete", {"op": "del", "id": "1-0"}, None),
        ("post", {"op": "creategroup"}, {"group": "g2"}),
        ("delete", {"op": "destroygroup", "group": "g"}, None),
        ("post", {"op": "createconsumer"}, {"group": "g", "consumer": "c"}),
        ("delete", {"op": "delconsumer", "group": "g", "consumer": "c"}, None),
        ("post", {"op": "setid"}, {"group": "g", "id": "0"}),
        ("post", {"op": "readgroup"}, {"group": "g", "consumer": "c"}),
        ("post", {"op": "readgroupblock"}, {"group": "g", "consumer": "c", "timeout_ms": 100}),
        ("post", {"op": "ack"}, {"group": "g", "ids": ["1-0"]}),
        ("post", {"op": "claim"}, {"group": "g", "consumer": "c", "min_idle_ms": 0, "ids": ["1-0"]}),
        ("post", {"op": "autoclaim"}, {"group": "g", "consumer": "c", "min_idle_ms": 0}),
    ],
)
def test_reader_cannot_write(reader, method, query, body):
    xadd("s", "1-0", n="1")
    make_group("s")
    path = url("s", **query)
    response = reader.post(path, body) if method == "post" else reader.delete(path)
    assert response.status_code == 403
    assert stored_ids("s") == ["1-0"]
    assert list(stored_groups("s")) == ["g"]
    assert stored_pending("s", "g") == []


def test_reader_can_read(reader):
    xadd("s", "1-0", n="1")
    make_group("s")
    queries = [
        {},
        {"op": "revrange"},
        {"op": "len"},
        {"op": "read"},
        {"op": "readblock", "id": "0", "timeout_ms": 100},
        {"op": "pending", "group": "g"},
        {"op": "info"},
        {"op": "groups"},
        {"op": "consumers", "group": "g"},
    ]
    for query in queries:
        assert reader.get(url("s", **query)).status_code == 200, query


def test_outsider_is_403(outsider):
    xadd("s", "1-0", n="1")
    assert outsider.get(url("s")).status_code == 403
    assert outsider.post(url("s"), {"fields": {"a": "1"}}).status_code == 403
    assert stored_ids("s") == ["1-0"]


@pytest.mark.parametrize(
    "method, query, body",
    [
        ("get", {}, None),
        ("get", {"op": "len"}, None),
        ("get", {"op": "read"}, None),
        ("get", {"op": "info"}, None),
        ("post", {}, {"fields": {"a": "1"}}),
        ("post", {"op": "trim"}, {"maxlen": 0}),
        ("post", {"op": "creategroup"}, {"group": "g", "mkstream": True}),
    ],
)
def test_other_type_is_409(owner, method, query, body):
    data_redis().set(redis_key("k"), "text")
    response = owner.post(url("k", **query), body) if method == "post" else owner.get(url("k", **query))
    assert error_of(response, 409)["code"] == "wrong_type"
    assert data_redis().get(redis_key("k")) == b"text"


@pytest.mark.parametrize("name", ["a/../../beta/s", "ns:beta:s", "스트림 #1?x=y", "..", "%2e%2e"])
def test_hostile_key_names_stay_in_namespace(owner, name):
    entry_id = data_of(owner.post(url(name), {"fields": {"a": "1"}}))["id"]
    assert stored(name) == [(entry_id, {b"a": b"1"})]
    assert data_redis().exists(stored_key("s", "beta")) == 0
    assert [entry["id"] for entry in data_of(owner.get(url(name)))["entries"]] == [entry_id]


def test_keys_lists_streams_only(owner):
    xadd("s1", a="1")
    xadd("s2", a="1")
    data_redis().set(redis_key("text"), "v")
    data = data_of(owner.get(EVENT))
    assert sorted(data["keys"]) == ["s1", "s2"]


def test_delete_stream(owner):
    xadd("s", a="1")
    assert data_of(owner.delete(url("s"))) == {"key": "s", "deleted": 1}
    assert data_redis().exists(redis_key("s")) == 0


def test_unknown_op_is_400(owner):
    assert error_of(owner.get(url("s", op="xrange")), 400)["code"] == "unknown_operation"


# Pipelines: commands in the atomic pipeline's Lua script reply in RESP2 shapes.


PIPELINE = "/api/v1/ns/alpha/pipeline"


def event(op: str, key: str, /, **args) -> dict:
    return {"area": "event", "op": op, "key": key, "args": args}


@pytest.mark.parametrize("atomic", [False, True])
def test_pipeline_runs_event_operations(owner, atomic):
    xadd("s", "1-0", n="1")
    xadd("s", "2-0", n="2")
    make_group("s")
    deliver("s", "c1", count=1)

    operations = [
        event("add", "s", fields={"n": "3"}, id="3-0"),
        event("range", "s", start="2"),
        event("read", "s", key=["t"], id=["1-0", "0"]),
        event("readgroup", "s", group="g", consumer="c2"),
        event("pending", "s", group="g"),
        event("pending", "s", group="g", count=10, consumer="c1"),
        event("info", "s", full=True),
        event("info", "s"),
        event("groups", "s"),
        event("consumers", "s", group="g"),
        event("autoclaim", "s", group="g", consumer="c3", min_idle_ms=0, count=1),
        event("add", "missing", fields={"a": "1"}, nomkstream=True),
        event("readgroup", "s", group="nope", consumer="c"),
    ]
    response = owner.post(PIPELINE, {"atomic": atomic, "operations": operations})
    assert response.status_code == 200, response.content
    results = response.json()["data"]["results"]
    assert [result["ok"] for result in results] == [True] * 12 + [False]

    data = [result.get("data") for result in results]
    assert data[0]["id"] == "3-0"
    assert [entry["id"] for entry in data[1]["entries"]] == ["2-0", "3-0"]
    assert {name: [entry["id"] for entry in entries] for name, entries in data[2]["streams"].items()} == {
        "s": ["2-0", "3-0"],
        "t": [],
    }
    assert [entry["id"] for entry in data[3]["entries"]] == ["2-0", "3-0"]
    assert data[4]["consumers"] == {"c1": 1, "c2": 2}
    assert [entry["id"] for entry in data[5]["pending"]] == ["1-0"]
    assert data[6]["entries"][0] == {"id": "1-0", "fields": {"n": "1"}}
    assert [consumer["name"] for consumer in data[6]["groups"][0]["consumers"]] == ["c1", "c2"]
    assert data[7]["last_entry"] == {"id": "3-0", "fields": {"n": "3"}}
    assert data[8]["groups"][0]["pending"] == 3
    assert [consumer["pending"] for consumer in data[9]["consumers"]] == [1, 2]
    assert data[10]["next_start"] == "2-0"
    assert data[11] == {"key": "missing", "added": False, "id": None}
    assert results[12]["status"] == 404
    assert results[12]["error"]["code"] == "group_not_found"


def test_pipeline_rejects_blocking_reads(owner):
    operations = [event("readblock", "s", timeout_ms=100), event("readgroupblock", "s", group="g", consumer="c")]
    response = owner.post(PIPELINE, {"operations": operations})
    assert response.status_code == 200, response.content
    results = response.json()["data"]["results"]
    assert [result["error"]["code"] for result in results] == ["blocking_not_allowed", "blocking_not_allowed"]


def test_atomic_pipeline_checks_every_read_key(owner):
    data_redis().set(redis_key("text"), "v")
    operations = [event("add", "s", fields={"a": "1"}), event("read", "s", key=["text"], id=["0", "0"])]
    response = owner.post(PIPELINE, {"atomic": True, "operations": operations})
    assert error_of(response, 409)["code"] == "wrong_type"
    assert data_redis().exists(redis_key("s")) == 0


# Through gunicorn: a blocked group read wakes up when another HTTP client appends.


@pytest.fixture
def web(transactional_db):
    port = free_port()
    process = start_web("event-web", port, WEB_CONCURRENCY="1", WEB_THREADS="4")
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_live_readgroupblock_wakes_on_append(web):
    headers = {"X-API-Key": make_key({"alpha": {READ, WRITE}})}
    stream = f"{web}{EVENT}live"
    created = httpx.post(f"{stream}?op=creategroup", json={"group": "g", "mkstream": True}, headers=headers)
    assert created.status_code == 200, created.text

    def append():
        time.sleep(0.1)
        httpx.post(stream, json={"fields": {"n": "new"}}, headers=headers, timeout=5)

    thread = threading.Thread(target=append)
    thread.start()
    started = time.monotonic()
    # The block outlasts a slow append on a loaded machine. Waking well before it ends
    # shows that the append, not the timeout, ended the wait.
    body = {"group": "g", "consumer": "c", "timeout_ms": 3000}
    response = httpx.post(f"{stream}?op=readgroupblock", json=body, headers=headers, timeout=10)
    elapsed = time.monotonic() - started
    thread.join()
    assert response.status_code == 200, response.text
    assert [entry["fields"] for entry in response.json()["data"]["entries"]] == [{"n": "new"}]
    assert elapsed < 2.5
