import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from apps.core.redis import data_redis

from .conftest import READ, WRITE, free_port, make_key, start_web, stored_key, stored_keys
from .envelopes import data_of, error_of

Q = "/api/v1/ns/alpha/queue/"


def stored(key: str) -> list[bytes]:
    return data_redis().lrange(stored_key(f"{key}"), 0, -1)


def push_later(key: str, value: str, delay: float) -> threading.Timer:
    timer = threading.Timer(delay, lambda: data_redis().rpush(stored_key(f"{key}"), value))
    timer.start()
    return timer


# push


def test_push_appends_right_by_default(owner):
    assert data_of(owner.post(Q + "jobs", {"values": ["a"]})) == {"key": "jobs", "length": 1}
    assert data_of(owner.post(Q + "jobs", {"values": ["b", "c"]})) == {"key": "jobs", "length": 3}
    assert stored("jobs") == [b"a", b"b", b"c"]


def test_push_left_reverses_like_lpush(owner):
    data_of(owner.post(Q + "jobs", {"values": ["x"]}))
    data_of(owner.post(Q + "jobs?op=push", {"values": ["a", "b"], "side": "left"}))
    assert stored("jobs") == [b"b", b"a", b"x"]


def test_push_xx_skips_missing_list(owner):
    data = data_of(owner.post(Q + "jobs", {"values": ["a"], "xx": True}))
    assert data == {"key": "jobs", "length": 0}
    assert data_redis().exists(stored_key("jobs")) == 0


def test_push_xx_appends_to_existing_list(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    assert data_of(owner.post(Q + "jobs", {"values": ["b"], "xx": True}))["length"] == 2
    assert data_of(owner.post(Q + "jobs", {"values": ["z"], "side": "left", "xx": True}))["length"] == 3
    assert stored("jobs") == [b"z", b"a", b"b"]


def test_push_empty_string_value(owner):
    data_of(owner.post(Q + "jobs", {"values": [""]}))
    assert stored("jobs") == [b""]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "values"),
        ({"values": []}, "values"),
        ({"values": "a"}, "values"),
        ({"values": [1]}, "values"),
        ({"values": [None]}, "values"),
        ({"values": ["a"], "side": "middle"}, "side"),
        ({"values": ["a"], "side": True}, "side"),
        ({"values": ["a"], "xx": "yes"}, "xx"),
        ({"values": ["a"], "nx": True}, "nx"),
    ],
)
def test_push_invalid_names_field(owner, body, field):
    error = error_of(owner.post(Q + "jobs", body), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert data_redis().exists(stored_key("jobs")) == 0


def test_push_body_not_object_is_400(owner):
    assert owner.post(Q + "jobs", ["a"]).status_code == 400
    assert data_redis().exists(stored_key("jobs")) == 0


def test_push_too_many_values_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    error = error_of(owner.post(Q + "jobs", {"values": ["a", "b", "c"]}), 413)
    assert error["code"] == "too_many_items"
    assert data_redis().exists(stored_key("jobs")) == 0


def test_push_value_over_limit_is_413(owner, settings):
    settings.REDGX_MAX_VALUE_BYTES = 4
    error = error_of(owner.post(Q + "jobs", {"values": ["ok", "too long"]}), 413)
    assert error["code"] == "payload_too_large"
    assert data_redis().exists(stored_key("jobs")) == 0


# pop


def test_pop_is_fifo_with_defaults(owner):
    data_of(owner.post(Q + "jobs", {"values": ["first", "second"]}))
    assert data_of(owner.post(Q + "jobs?op=pop")) == {"key": "jobs", "value": "first", "encoding": "utf-8"}
    assert stored("jobs") == [b"second"]


def test_pop_right(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b"]}))
    assert data_of(owner.post(Q + "jobs?op=pop", {"side": "right"}))["value"] == "b"
    assert stored("jobs") == [b"a"]


def test_pop_missing_list_is_404(owner):
    error = error_of(owner.post(Q + "jobs?op=pop"), 404)
    assert error["code"] == "queue_empty"


def test_pop_last_value_deletes_list(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    data_of(owner.post(Q + "jobs?op=pop"))
    assert data_redis().exists(stored_key("jobs")) == 0
    assert error_of(owner.post(Q + "jobs?op=pop"), 404)["code"] == "queue_empty"


def test_pop_count(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b", "c"]}))
    data = data_of(owner.post(Q + "jobs?op=pop", {"count": 2}))
    assert data == {"key": "jobs", "values": ["a", "b"], "encoding": "utf-8"}
    assert stored("jobs") == [b"c"]


def test_pop_count_right(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b", "c"]}))
    assert data_of(owner.post(Q + "jobs?op=pop", {"count": 2, "side": "right"}))["values"] == ["c", "b"]
    assert stored("jobs") == [b"a"]


def test_pop_count_beyond_length(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b"]}))
    assert data_of(owner.post(Q + "jobs?op=pop", {"count": 5}))["values"] == ["a", "b"]
    assert data_redis().exists(stored_key("jobs")) == 0


def test_pop_count_missing_list_is_empty(owner):
    data = data_of(owner.post(Q + "jobs?op=pop", {"count": 3}))
    assert data == {"key": "jobs", "values": [], "encoding": "utf-8"}


@pytest.mark.parametrize("count", [0, -1, "2", 1.5, True, 1001])
def test_pop_invalid_count_is_400(owner, count):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    error = error_of(owner.post(Q + "jobs?op=pop", {"count": count}), 400)
    assert "count" in error["fields"]
    assert stored("jobs") == [b"a"]


def test_pop_count_limit_follows_setting(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert "count" in error_of(owner.post(Q + "jobs?op=pop", {"count": 3}), 400)["fields"]
    assert data_of(owner.post(Q + "jobs?op=pop", {"count": 2}))["values"] == []


# blocking pop


def test_bpop_returns_waiting_value(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b"]}))
    data = data_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 100}))
    assert data == {"key": "jobs", "source": "jobs", "value": "a", "encoding": "utf-8"}
    assert stored("jobs") == [b"b"]


def test_bpop_right(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b"]}))
    assert data_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 100, "side": "right"}))["value"] == "b"
    assert stored("jobs") == [b"a"]


def test_bpop_timeout_returns_null(owner):
    started = time.monotonic()
    data = data_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 150}))
    elapsed = time.monotonic() - started
    assert data == {"key": "jobs", "source": None, "value": None, "encoding": "utf-8"}
    assert elapsed >= 0.14
    assert elapsed < 2


def test_bpop_takes_from_other_key(owner):
    data_of(owner.post(Q + "low/priority", {"values": ["slow"]}))
    data = data_of(owner.post(Q + "high?op=bpop", {"timeout_ms": 100, "keys": ["low/priority"]}))
    assert data == {"key": "high", "source": "low/priority", "value": "slow", "encoding": "utf-8"}
    assert data_redis().exists(stored_key("low/priority")) == 0


def test_bpop_prefers_keys_in_order(owner):
    data_of(owner.post(Q + "high", {"values": ["urgent"]}))
    data_of(owner.post(Q + "low", {"values": ["slow"]}))
    data = data_of(owner.post(Q + "high?op=bpop", {"timeout_ms": 100, "keys": ["low"]}))
    assert data["source"] == "high"
    assert stored("low") == [b"slow"]


def test_bpop_woken_by_push(owner):
    timer = push_later("jobs", "late", 0.15)
    started = time.monotonic()
    data = data_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 3000}))
    elapsed = time.monotonic() - started
    timer.join()
    assert data["value"] == "late"
    assert elapsed < 2


def test_bpop_woken_by_push_on_other_key(owner):
    timer = push_later("b", "later", 0.15)
    data = data_of(owner.post(Q + "a?op=bpop", {"timeout_ms": 3000, "keys": ["b"]}))
    timer.join()
    assert data["source"] == "b"
    assert data["value"] == "later"


def test_bpop_cannot_reach_other_namespace(owner):
    data_redis().rpush(stored_key("secret", "beta"), "x")
    data = data_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 100, "keys": ["../beta/secret", "ns:beta:secret"]}))
    assert data["value"] is None
    assert data_redis().lrange(stored_key("secret", "beta"), 0, -1) == [b"x"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "timeout_ms"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": -5}, "timeout_ms"),
        ({"timeout_ms": "100"}, "timeout_ms"),
        ({"timeout_ms": 25_001}, "timeout_ms"),
        ({"timeout_ms": 100, "keys": "other"}, "keys"),
        ({"timeout_ms": 100, "keys": [""]}, "keys"),
        ({"timeout_ms": 100, "count": 2}, "count"),
    ],
)
def test_bpop_invalid_names_field(owner, body, field):
    error = error_of(owner.post(Q + "jobs?op=bpop", body), 400)
    assert field in error["fields"]


def test_bpop_too_many_keys_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    error = error_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 100, "keys": ["a", "b", "c"]}), 413)
    assert error["code"] == "too_many_items"


def test_bpop_wrong_type_on_other_key(owner):
    data_redis().set(stored_key("text"), "v")
    error = error_of(owner.post(Q + "jobs?op=bpop", {"timeout_ms": 100, "keys": ["text"]}), 409)
    assert error["code"] == "wrong_type"


def test_bpop_not_allowed_in_pipeline(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    body = {"operations": [{"area": "queue", "op": "bpop", "key": "jobs", "args": {"timeout_ms": 100}}]}
    result = data_of(owner.post("/api/v1/ns/alpha/pipeline", body))["results"][0]
    assert result["error"]["code"] == "blocking_not_allowed"
    assert stored("jobs") == [b"a"]


# range, index, len


def test_range_whole_list_by_default(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b", "c"]}))
    assert data_of(owner.get(Q + "jobs")) == {"key": "jobs", "values": ["a", "b", "c"], "encoding": "utf-8"}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("start=1", ["b", "c", "d"]),
        ("start=0&stop=1", ["a", "b"]),
        ("start=-2", ["c", "d"]),
        ("start=1&stop=-2", ["b", "c"]),
        ("start=3&stop=1", []),
        ("start=10", []),
        ("start=-100&stop=100", ["a", "b", "c", "d"]),
    ],
)
def test_range_indexes(owner, query, expected):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b", "c", "d"]}))
    assert data_of(owner.get(Q + f"jobs?op=range&{query}"))["values"] == expected


def test_range_missing_list_is_empty(owner):
    assert data_of(owner.get(Q + "jobs"))["values"] == []


@pytest.mark.parametrize(
    "query, field", [("start=x", "start"), ("stop=1.5", "stop"), ("start=99999999999999999999", "start")]
)
def test_range_invalid_index_is_400(owner, query, field):
    assert field in error_of(owner.get(Q + f"jobs?{query}"), 400)["fields"]


def test_index(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a", "b", "c"]}))
    assert data_of(owner.get(Q + "jobs?op=index&index=1")) == {
        "key": "jobs",
        "index": 1,
        "value": "b",
        "encoding": "utf-8",
    }
    assert data_of(owner.get(Q + "jobs?op=index&index=-1"))["value"] == "c"


def test_index_out_of_range_is_404(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    assert error_of(owner.get(Q + "jobs?op=index&index=1"), 404)["code"] == "index_out_of_range"
    assert error_of(owner.get(Q + "missing?op=index&index=0"), 404)["code"] == "index_out_of_range"


def test_index_requires_index(owner):
    assert "index" in error_of(owner.get(Q + "jobs?op=index"), 400)["fields"]


def test_len(owner):
    assert data_of(owner.get(Q + "jobs?op=len")) == {"key": "jobs", "length": 0}
    data_of(owner.post(Q + "jobs", {"values": ["a", "b"]}))
    assert data_of(owner.get(Q + "jobs?op=len")) == {"key": "jobs", "length": 2}


# trim, rem, set, insert


def test_trim_keeps_range(owner):
    data_of(owner.post(Q + "log", {"values": ["a", "b", "c", "d"]}))
    assert data_of(owner.post(Q + "log?op=trim", {"start": -2, "stop": -1})) == {"key": "log", "length": 2}
    assert stored("log") == [b"c", b"d"]


def test_trim_to_nothing_deletes_list(owner):
    data_of(owner.post(Q + "log", {"values": ["a", "b"]}))
    assert data_of(owner.post(Q + "log?op=trim", {"start": 5, "stop": 10}))["length"] == 0
    assert data_redis().exists(stored_key("log")) == 0


def test_trim_requires_both_ends(owner):
    assert "stop" in error_of(owner.post(Q + "log?op=trim", {"start": 0}), 400)["fields"]


@pytest.mark.parametrize(
    "count, removed, left",
    [
        (0, 3, [b"b", b"c"]),
        (2, 2, [b"b", b"c", b"a"]),
        (-1, 1, [b"a", b"b", b"a", b"c"]),
        (-5, 3, [b"b", b"c"]),
    ],
)
def test_rem_count_semantics(owner, count, removed, left):
    data_of(owner.post(Q + "l", {"values": ["a", "b", "a", "c", "a"]}))
    assert data_of(owner.post(Q + "l?op=rem", {"value": "a", "count": count})) == {"key": "l", "removed": removed}
    assert stored("l") == left


def test_rem_missing_value(owner):
    data_of(owner.post(Q + "l", {"values": ["a"]}))
    assert data_of(owner.post(Q + "l?op=rem", {"value": "zzz"}))["removed"] == 0
    assert data_of(owner.post(Q + "missing?op=rem", {"value": "a"}))["removed"] == 0


def test_set_by_index(owner):
    data_of(owner.post(Q + "l", {"values": ["a", "b", "c"]}))
    assert data_of(owner.put(Q + "l?op=set", {"index": -1, "value": "z"})) == {"key": "l", "index": -1, "written": True}
    assert stored("l") == [b"a", b"b", b"z"]


def test_set_out_of_range_is_409(owner):
    data_of(owner.post(Q + "l", {"values": ["a"]}))
    assert error_of(owner.put(Q + "l?op=set", {"index": 1, "value": "z"}), 409)["code"] == "index_out_of_range"
    assert stored("l") == [b"a"]


def test_set_missing_list_is_404(owner):
    assert error_of(owner.put(Q + "l?op=set", {"index": 0, "value": "z"}), 404)["code"] == "key_not_found"


def test_set_missing_list_changes_nothing(owner):
    assert owner.put(Q + "l?op=set", {"index": 0, "value": "z"}).status_code >= 400
    assert data_redis().exists(stored_key("l")) == 0


def test_set_requires_op(owner):
    assert error_of(owner.put(Q + "l", {"index": 0, "value": "z"}), 400)["code"] == "missing_operation"


@pytest.mark.parametrize(
    "body, field", [({"value": "z"}, "index"), ({"index": 0}, "value"), ({"index": "0", "value": "z"}, "index")]
)
def test_set_invalid_names_field(owner, body, field):
    assert field in error_of(owner.put(Q + "l?op=set", body), 400)["fields"]


def test_insert_before_and_after(owner):
    data_of(owner.post(Q + "l", {"values": ["a", "c"]}))
    assert data_of(owner.post(Q + "l?op=insert", {"where": "before", "pivot": "c", "value": "b"})) == {
        "key": "l",
        "length": 3,
    }
    assert data_of(owner.post(Q + "l?op=insert", {"where": "after", "pivot": "c", "value": "d"}))["length"] == 4
    assert stored("l") == [b"a", b"b", b"c", b"d"]


def test_insert_uses_first_pivot(owner):
    data_of(owner.post(Q + "l", {"values": ["p", "p"]}))
    data_of(owner.post(Q + "l?op=insert", {"where": "after", "pivot": "p", "value": "x"}))
    assert stored("l") == [b"p", b"x", b"p"]


def test_insert_missing_pivot_is_404(owner):
    data_of(owner.post(Q + "l", {"values": ["a"]}))
    assert error_of(owner.post(Q + "l?op=insert", {"where": "after", "pivot": "z", "value": "x"}), 404)["code"] == (
        "pivot_not_found"
    )
    assert stored("l") == [b"a"]


def test_insert_missing_list_is_404(owner):
    response = owner.post(Q + "l?op=insert", {"where": "before", "pivot": "a", "value": "x"})
    assert error_of(response, 404)["code"] == "pivot_not_found"
    assert data_redis().exists(stored_key("l")) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"pivot": "a", "value": "x"}, "where"),
        ({"where": "inside", "pivot": "a", "value": "x"}, "where"),
        ({"where": "before", "value": "x"}, "pivot"),
        ({"where": "before", "pivot": "a"}, "value"),
    ],
)
def test_insert_invalid_names_field(owner, body, field):
    assert field in error_of(owner.post(Q + "l?op=insert", body), 400)["fields"]


# pos


@pytest.fixture
def letters(owner):
    data_of(owner.post(Q + "l", {"values": ["a", "b", "c", "b", "b"]}))


@pytest.mark.parametrize(
    "query, expected",
    [
        ("value=b", {"position": 1}),
        ("value=b&rank=2", {"position": 3}),
        ("value=b&rank=-1", {"position": 4}),
        ("value=b&count=2", {"positions": [1, 3]}),
        ("value=b&count=0", {"positions": [1, 3, 4]}),
        ("value=b&rank=-1&count=2", {"positions": [4, 3]}),
        ("value=b&count=0&maxlen=4", {"positions": [1, 3]}),
        ("value=zzz&count=2", {"positions": []}),
    ],
)
def test_pos(owner, letters, query, expected):
    assert data_of(owner.get(Q + f"l?op=pos&{query}")) == {"key": "l", **expected}


def test_pos_not_found_is_404(owner, letters):
    assert error_of(owner.get(Q + "l?op=pos&value=zzz"), 404)["code"] == "element_not_found"
    assert error_of(owner.get(Q + "l?op=pos&value=b&rank=4"), 404)["code"] == "element_not_found"
    assert error_of(owner.get(Q + "missing?op=pos&value=a"), 404)["code"] == "element_not_found"


def test_pos_missing_list_with_count(owner):
    assert data_of(owner.get(Q + "missing?op=pos&value=a&count=1")) == {"key": "missing", "positions": []}


@pytest.mark.parametrize(
    "query, field",
    [
        ("", "value"),
        ("value=b&rank=0", "rank"),
        (f"value=b&rank={-(2**63)}", "rank"),
        ("value=b&count=-1", "count"),
        ("value=b&count=1001", "count"),
        ("value=b&maxlen=-1", "maxlen"),
    ],
)
def test_pos_invalid_names_field(owner, letters, query, field):
    assert field in error_of(owner.get(Q + f"l?op=pos&{query}"), 400)["fields"]


# move


def test_move_head_to_tail_of_other_list(owner):
    data_of(owner.post(Q + "todo", {"values": ["a", "b"]}))
    data_of(owner.post(Q + "doing", {"values": ["x"]}))
    data = data_of(owner.post(Q + "todo?op=move", {"destination": "doing"}))
    assert data == {"key": "todo", "destination": "doing", "value": "a", "encoding": "utf-8"}
    assert stored("todo") == [b"b"]
    assert stored("doing") == [b"x", b"a"]


def test_move_sides(owner):
    data_of(owner.post(Q + "todo", {"values": ["a", "b"]}))
    data_of(owner.post(Q + "doing", {"values": ["x"]}))
    body = {"destination": "doing", "from_side": "right", "to_side": "left"}
    assert data_of(owner.post(Q + "todo?op=move", body))["value"] == "b"
    assert stored("doing") == [b"b", b"x"]


def test_move_to_same_list_rotates(owner):
    data_of(owner.post(Q + "ring", {"values": ["a", "b", "c"]}))
    data_of(owner.post(Q + "ring?op=move", {"destination": "ring"}))
    assert stored("ring") == [b"b", b"c", b"a"]


def test_move_from_empty_is_404(owner):
    assert error_of(owner.post(Q + "todo?op=move", {"destination": "doing"}), 404)["code"] == "queue_empty"
    assert data_redis().exists(stored_key("doing")) == 0


def test_move_stays_in_namespace(owner):
    data_of(owner.post(Q + "todo", {"values": ["a"]}))
    data_of(owner.post(Q + "todo?op=move", {"destination": "ns:beta:stolen"}))
    assert data_redis().exists(stored_key("stolen", "beta")) == 0
    assert data_redis().lrange(stored_key("ns:beta:stolen"), 0, -1) == [b"a"]


def test_move_to_wrong_type_is_409(owner):
    data_of(owner.post(Q + "todo", {"values": ["a"]}))
    data_redis().set(stored_key("text"), "v")
    assert error_of(owner.post(Q + "todo?op=move", {"destination": "text"}), 409)["code"] == "wrong_type"
    assert stored("todo") == [b"a"]


@pytest.mark.parametrize(
    "body, field",
    [({}, "destination"), ({"destination": ""}, "destination"), ({"destination": "d", "to_side": "up"}, "to_side")],
)
def test_move_invalid_names_field(owner, body, field):
    assert field in error_of(owner.post(Q + "todo?op=move", body), 400)["fields"]


def test_move_destination_too_long_is_400(owner, settings):
    settings.REDGX_MAX_KEY_BYTES = 8
    data_of(owner.post(Q + "todo", {"values": ["a"]}))
    assert error_of(owner.post(Q + "todo?op=move", {"destination": "d" * 9}), 400)["code"] == "key_too_long"
    assert stored("todo") == [b"a"]


def test_bmove_returns_waiting_value(owner):
    data_of(owner.post(Q + "todo", {"values": ["a"]}))
    data = data_of(owner.post(Q + "todo?op=bmove", {"destination": "doing", "timeout_ms": 100}))
    assert data == {"key": "todo", "destination": "doing", "value": "a", "encoding": "utf-8"}
    assert stored("doing") == [b"a"]


def test_bmove_timeout_returns_null(owner):
    started = time.monotonic()
    data = data_of(owner.post(Q + "todo?op=bmove", {"destination": "doing", "timeout_ms": 120}))
    assert data["value"] is None
    assert time.monotonic() - started >= 0.11
    assert data_redis().exists(stored_key("doing")) == 0


def test_bmove_woken_by_push(owner):
    timer = push_later("todo", "late", 0.15)
    body = {"destination": "doing", "timeout_ms": 3000, "from_side": "right", "to_side": "left"}
    data = data_of(owner.post(Q + "todo?op=bmove", body))
    timer.join()
    assert data["value"] == "late"
    assert stored("doing") == [b"late"]


def test_bmove_requires_timeout(owner):
    assert "timeout_ms" in error_of(owner.post(Q + "todo?op=bmove", {"destination": "d"}), 400)["fields"]


# permissions, types, encodings, key names


@pytest.mark.parametrize(
    "path, body",
    [
        ("jobs", {"values": ["a"]}),
        ("jobs?op=pop", None),
        ("jobs?op=bpop", {"timeout_ms": 100}),
        ("jobs?op=trim", {"start": 0, "stop": 0}),
        ("jobs?op=move", {"destination": "d"}),
    ],
)
def test_reader_cannot_write(owner, reader, path, body):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    assert reader.post(Q + path, body).status_code == 403
    assert stored("jobs") == [b"a"]


def test_reader_can_read(owner, reader):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    assert data_of(reader.get(Q + "jobs"))["values"] == ["a"]
    assert data_of(reader.get(Q + "jobs?op=len"))["length"] == 1


def test_outsider_is_403(owner, outsider):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    assert outsider.get(Q + "jobs").status_code == 403
    assert outsider.post(Q + "jobs?op=pop").status_code == 403
    assert stored("jobs") == [b"a"]


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "text", None),
        ("post", "text", {"values": ["a"]}),
        ("post", "text?op=pop", None),
        ("get", "text?op=len", None),
        ("put", "text?op=set", {"index": 0, "value": "a"}),
    ],
)
def test_wrong_type_is_409(owner, method, path, body):
    data_redis().set(stored_key("text"), "v")
    response = owner.request(method.upper(), Q + path, body)
    assert error_of(response, 409)["code"] == "wrong_type"
    assert data_redis().get(stored_key("text")) == b"v"


def test_base64_in_and_out(owner):
    data_of(owner.post(Q + "bin?encoding=base64", {"values": ["/wD+", "aGk="]}))
    assert stored("bin") == [b"\xff\x00\xfe", b"hi"]
    data = data_of(owner.get(Q + "bin?encoding=base64"))
    assert data == {"key": "bin", "values": ["/wD+", "aGk="], "encoding": "base64"}


def test_binary_value_falls_back_to_base64(owner):
    data_redis().rpush(stored_key("bin"), b"\xff", b"ok")
    assert data_of(owner.get(Q + "bin")) == {"key": "bin", "values": ["/w==", "b2s="], "encoding": "base64"}
    assert data_of(owner.post(Q + "bin?op=pop")) == {"key": "bin", "value": "/w==", "encoding": "base64"}


def test_base64_query_value(owner):
    data_redis().rpush(stored_key("bin"), b"a", b"\xff")
    assert data_of(owner.get(Q + "bin?op=pos&value=/w%3D%3D&encoding=base64"))["position"] == 1


def test_invalid_base64_is_400(owner):
    assert "values" in error_of(owner.post(Q + "bin?encoding=base64", {"values": ["!!"]}), 400)["fields"]
    assert data_redis().exists(stored_key("bin")) == 0


@pytest.mark.parametrize("name", ["a/b/c", "../beta/x", "ns:beta:x", "줄 서기", "%3F?"])
def test_hostile_key_names_stay_in_namespace(owner, name):
    path = Q + name.replace("%", "%25").replace("?", "%3F").replace(" ", "%20")
    data_of(owner.post(path, {"values": ["v"]}))
    assert data_redis().lrange(stored_key(f"{name}"), 0, -1) == [b"v"]
    assert stored_keys(stored_key("*", "beta")) == []
    assert data_of(owner.post(path + "?op=pop"))["key"] == name


def test_keys_lists_only_lists(owner):
    data_of(owner.post(Q + "jobs", {"values": ["a"]}))
    data_redis().set(stored_key("text"), "v")
    assert data_of(owner.get(Q))["keys"] == ["jobs"]


def test_pipeline_runs_queue_operations(owner):
    operations = [
        {"area": "queue", "op": "push", "key": "jobs", "args": {"values": ["a", "b", "c"]}},
        {"area": "queue", "op": "trim", "key": "jobs", "args": {"start": 0, "stop": 1}},
        {"area": "queue", "op": "pop", "key": "jobs", "args": {"count": 5}},
        {"area": "queue", "op": "pop", "key": "jobs"},
    ]
    for atomic in (False, True):
        results = data_of(owner.post("/api/v1/ns/alpha/pipeline", {"operations": operations, "atomic": atomic}))
        assert results["results"][1]["data"] == {"key": "jobs", "length": 2}
        assert results["results"][2]["data"]["values"] == ["a", "b"]
        assert results["results"][3]["error"]["code"] == "queue_empty"
        assert data_redis().exists(stored_key("jobs")) == 0


# across processes: a blocked pop on a real server woken by a push from another client


@pytest.fixture
def web(transactional_db):
    port = free_port()
    process = start_web("queue-web", port, WEB_CONCURRENCY="1", WEB_THREADS="4")
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_live_bpop_woken_by_push(web):
    headers = {"X-API-Key": make_key({"alpha": {READ, WRITE}})}
    url = f"{web}/api/v1/ns/alpha/queue/jobs"
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        waiting = pool.submit(httpx.post, f"{url}?op=bpop", json={"timeout_ms": 5000}, headers=headers, timeout=10)
        time.sleep(0.3)
        assert not waiting.done()
        pushed = httpx.post(url, json={"values": ["wake"]}, headers=headers, timeout=5)
        response = waiting.result()
    assert pushed.status_code == 200
    assert response.status_code == 200, response.text
    assert response.json()["data"]["value"] == "wake"
    assert time.monotonic() - started < 4
