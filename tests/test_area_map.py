from urllib.parse import quote

import pytest

from apps.core.redis import data_redis

from .conftest import stored_key, stored_keys, stored_redis
from .envelopes import data_of, error_of

MAP = "/api/v1/ns/alpha/map/"
STORED = stored_key("user")


def put_fields(client, fields: dict, key: str = "user") -> dict:
    return data_of(client.put(MAP + key, {"fields": fields}))


# set and getall


def test_set_then_getall(owner):
    assert put_fields(owner, {"name": "Ada", "city": "서울"}) == {"key": "user", "added": 2}
    data = data_of(owner.get(MAP + "user"))
    assert data == {"key": "user", "fields": {"name": "Ada", "city": "서울"}, "encoding": "utf-8"}
    assert stored_redis().hgetall(STORED) == {b"name": b"Ada", b"city": "서울".encode()}


def test_set_counts_only_new_fields(owner):
    put_fields(owner, {"a": "1"})
    assert put_fields(owner, {"a": "2", "b": "3"})["added"] == 1
    assert data_redis().hget(STORED, "a") == b"2"


def test_set_nx_writes_new_field_only(owner):
    assert data_of(owner.put(MAP + "user", {"fields": {"a": "first"}, "nx": True}))["added"] == 1
    assert data_of(owner.put(MAP + "user", {"fields": {"a": "second"}, "nx": True}))["added"] == 0
    assert data_redis().hget(STORED, "a") == b"first"


def test_empty_field_name_and_value(owner):
    put_fields(owner, {"": ""})
    assert data_redis().hget(STORED, "") == b""
    assert data_of(owner.get(MAP + "user?op=get&field="))["value"] == ""


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "fields"),
        ({"fields": {}}, "fields"),
        ({"fields": ["a", "b"]}, "fields"),
        ({"fields": "a"}, "fields"),
        ({"fields": {"a": 1}}, "fields"),
        ({"fields": {"a": None}}, "fields"),
        ({"fields": {"a": "1", "b": "2"}, "nx": True}, "fields"),
        ({"fields": {"a": "1"}, "nx": "yes"}, "nx"),
        ({"fields": {"a": "1"}, "value": "x"}, "value"),
    ],
)
def test_set_invalid_names_field(owner, body, field):
    error = error_of(owner.put(MAP + "user", body), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert data_redis().exists(STORED) == 0


def test_set_body_not_object_is_400(owner):
    assert owner.put(MAP + "user", ["a"]).status_code == 400
    assert data_redis().exists(STORED) == 0


def test_set_too_many_fields_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    error = error_of(owner.put(MAP + "user", {"fields": {"a": "1", "b": "2", "c": "3"}}), 413)
    assert error["code"] == "too_many_items"
    assert data_redis().exists(STORED) == 0


def test_set_value_over_limit_is_413(owner, settings):
    settings.REDGX_MAX_VALUE_BYTES = 10
    assert error_of(owner.put(MAP + "user", {"fields": {"a": "x" * 11}}), 413)["code"] == "payload_too_large"
    assert error_of(owner.put(MAP + "user", {"fields": {"x" * 11: "a"}}), 413)["code"] == "payload_too_large"
    assert data_redis().exists(STORED) == 0


def test_getall_missing_key_is_empty(owner):
    assert data_of(owner.get(MAP + "missing")) == {"key": "missing", "fields": {}, "encoding": "utf-8"}


def test_default_get_rejects_arguments(owner):
    put_fields(owner, {"a": "1"})
    error = error_of(owner.get(MAP + "user?field=a"), 400)
    assert "field" in error["fields"]


# get, mget


def test_get_field(owner):
    put_fields(owner, {"name": "Ada"})
    assert data_of(owner.get(MAP + "user?op=get&field=name")) == {"key": "user", "value": "Ada", "encoding": "utf-8"}


def test_get_missing_field_is_404(owner):
    put_fields(owner, {"name": "Ada"})
    assert error_of(owner.get(MAP + "user?op=get&field=age"), 404)["code"] == "field_not_found"


def test_get_missing_key_is_404(owner):
    assert error_of(owner.get(MAP + "missing?op=get&field=age"), 404)["code"] == "field_not_found"


def test_get_needs_field(owner):
    assert "field" in error_of(owner.get(MAP + "user?op=get"), 400)["fields"]


def test_mget_missing_fields_are_null(owner):
    put_fields(owner, {"a": "1", "b": "2"})
    data = data_of(owner.get(MAP + "user?op=mget&field=a&field=zzz&field=b"))
    assert data == {"key": "user", "fields": {"a": "1", "zzz": None, "b": "2"}, "encoding": "utf-8"}


def test_mget_missing_key_is_all_null(owner):
    data = data_of(owner.get(MAP + "missing?op=mget&field=a"))
    assert data["fields"] == {"a": None}


def test_mget_limits(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert error_of(owner.get(MAP + "user?op=mget&field=a&field=b&field=c"), 413)["code"] == "too_many_items"
    assert "field" in error_of(owner.get(MAP + "user?op=mget"), 400)["fields"]


# del, hexists, len, keys, vals, strlen


def test_del_counts_existing_fields(owner):
    put_fields(owner, {"a": "1", "b": "2", "c": "3"})
    assert data_of(owner.delete(MAP + "user?op=del&field=a&field=b&field=zzz")) == {"key": "user", "deleted": 2}
    assert stored_redis().hgetall(STORED) == {b"c": b"3"}


def test_del_last_field_deletes_key(owner):
    put_fields(owner, {"a": "1"})
    data_of(owner.delete(MAP + "user?op=del&field=a"))
    assert data_redis().exists(STORED) == 0


def test_del_needs_field(owner):
    put_fields(owner, {"a": "1"})
    assert "field" in error_of(owner.delete(MAP + "user?op=del"), 400)["fields"]
    assert data_redis().hlen(STORED) == 1


def test_delete_removes_whole_hash(owner):
    put_fields(owner, {"a": "1", "b": "2"})
    assert data_of(owner.delete(MAP + "user")) == {"key": "user", "deleted": 1}
    assert data_redis().exists(STORED) == 0


def test_hexists(owner):
    put_fields(owner, {"a": "1"})
    assert data_of(owner.get(MAP + "user?op=hexists&field=a")) == {"key": "user", "exists": True}
    assert data_of(owner.get(MAP + "user?op=hexists&field=b"))["exists"] is False
    assert data_of(owner.get(MAP + "missing?op=hexists&field=a"))["exists"] is False


def test_key_exists_stays_the_shared_command(owner):
    put_fields(owner, {"a": "1"})
    assert data_of(owner.get(MAP + "user?op=exists")) == {"key": "user", "exists": True}


def test_len(owner):
    put_fields(owner, {"a": "1", "b": "2"})
    assert data_of(owner.get(MAP + "user?op=len")) == {"key": "user", "length": 2}
    assert data_of(owner.get(MAP + "missing?op=len"))["length"] == 0


def test_keys_and_vals(owner):
    put_fields(owner, {"a": "1", "b": "2"})
    keys = data_of(owner.get(MAP + "user?op=keys"))
    assert sorted(keys["fields"]) == ["a", "b"]
    assert keys["encoding"] == "utf-8"
    assert sorted(data_of(owner.get(MAP + "user?op=vals"))["values"]) == ["1", "2"]


def test_keys_and_vals_of_missing_key(owner):
    assert data_of(owner.get(MAP + "missing?op=keys"))["fields"] == []
    assert data_of(owner.get(MAP + "missing?op=vals"))["values"] == []


def test_strlen_counts_bytes(owner):
    put_fields(owner, {"city": "서울"})
    assert data_of(owner.get(MAP + "user?op=strlen&field=city")) == {"key": "user", "length": 6}
    assert data_of(owner.get(MAP + "user?op=strlen&field=zzz"))["length"] == 0


# incr


def test_incr_from_missing_field(owner):
    assert data_of(owner.post(MAP + "user?op=incr", {"field": "visits"})) == {"key": "user", "value": 1}
    assert data_of(owner.post(MAP + "user?op=incr", {"field": "visits", "by": -11}))["value"] == -10
    assert data_redis().hget(STORED, "visits") == b"-10"


def test_incr_by_float(owner):
    put_fields(owner, {"price": "10.5"})
    assert data_of(owner.post(MAP + "user?op=incr", {"field": "price", "by": 0.25}))["value"] == 10.75
    assert data_redis().hget(STORED, "price") == b"10.75"


def test_incr_int_on_float_is_409(owner):
    put_fields(owner, {"price": "10.5"})
    assert error_of(owner.post(MAP + "user?op=incr", {"field": "price"}), 409)["code"] == "not_integer"
    assert data_redis().hget(STORED, "price") == b"10.5"


def test_incr_float_on_text_is_409(owner):
    put_fields(owner, {"name": "Ada"})
    assert error_of(owner.post(MAP + "user?op=incr", {"field": "name", "by": 1.5}), 409)["code"] == "not_float"
    assert data_redis().hget(STORED, "name") == b"Ada"


def test_incr_overflow_is_409(owner):
    put_fields(owner, {"n": str(2**63 - 1)})
    assert error_of(owner.post(MAP + "user?op=incr", {"field": "n"}), 409)["code"] == "overflow"


def test_incr_past_double_range_returns_text(owner):
    put_fields(owner, {"n": "1e308"})
    value = data_of(owner.post(MAP + "user?op=incr", {"field": "n", "by": 1e308}))["value"]
    assert isinstance(value, str)
    assert value.startswith("19999")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"by": 1}, "field"),
        ({"field": "n", "by": "5"}, "by"),
        ({"field": "n", "by": True}, "by"),
        ({"field": "n", "by": 2**64}, "by"),
        ({"field": 5}, "field"),
    ],
)
def test_incr_invalid_names_field(owner, body, field):
    assert field in error_of(owner.post(MAP + "user?op=incr", body), 400)["fields"]
    assert data_redis().exists(STORED) == 0


# randfield


def test_randfield_one(owner):
    put_fields(owner, {"a": "1", "b": "2"})
    data = data_of(owner.get(MAP + "user?op=randfield"))
    assert data["field"] in ("a", "b")
    assert "value" not in data


def test_randfield_one_with_value(owner):
    put_fields(owner, {"a": "1"})
    data = data_of(owner.get(MAP + "user?op=randfield&withvalues=true"))
    assert data == {"key": "user", "field": "a", "value": "1", "encoding": "utf-8"}


def test_randfield_one_of_missing_key_is_404(owner):
    assert error_of(owner.get(MAP + "missing?op=randfield"), 404)["code"] == "key_not_found"


def test_randfield_count_is_distinct(owner):
    put_fields(owner, {"a": "1", "b": "2", "c": "3"})
    data = data_of(owner.get(MAP + "user?op=randfield&count=10&withvalues=true"))
    assert sorted(data["fields"]) == ["a", "b", "c"]
    assert [data_redis().hget(STORED, f).decode() for f in data["fields"]] == data["values"]


def test_randfield_negative_count_repeats(owner):
    put_fields(owner, {"a": "1"})
    data = data_of(owner.get(MAP + "user?op=randfield&count=-4"))
    assert data == {"key": "user", "fields": ["a"] * 4, "encoding": "utf-8"}


def test_randfield_count_of_missing_key_is_empty(owner):
    assert data_of(owner.get(MAP + "missing?op=randfield&count=3"))["fields"] == []
    assert data_of(owner.get(MAP + "missing?op=randfield&count=0&withvalues=1"))["values"] == []


@pytest.mark.parametrize("query", ["count=1001", "count=-1001", "count=x", "count=1.5", "withvalues=maybe"])
def test_randfield_invalid_is_400(owner, query):
    name = query.split("=")[0]
    assert name in error_of(owner.get(MAP + "user?op=randfield&" + query), 400)["fields"]


# scan


def test_scan_pages_through_every_field(owner):
    data_redis().hset(STORED, mapping={f"f{i}": str(i) for i in range(300)})
    seen, cursor = {}, "0"
    for _page in range(300):
        data = data_of(owner.get(MAP + f"user?op=scan&cursor={cursor}&count=50"))
        seen.update(data["fields"])
        cursor = data["cursor"]
        if cursor == "0":
            break
    assert cursor == "0"
    assert seen == {f"f{i}": str(i) for i in range(300)}


def test_scan_pattern(owner):
    put_fields(owner, {"user:1": "a", "user:2": "b", "other": "c"})
    data = data_of(owner.get(MAP + "user?op=scan&pattern=" + quote("user:*")))
    assert data == {"key": "user", "cursor": "0", "fields": {"user:1": "a", "user:2": "b"}, "encoding": "utf-8"}


def test_scan_missing_key_is_empty(owner):
    assert data_of(owner.get(MAP + "missing?op=scan"))["fields"] == {}


@pytest.mark.parametrize("query, field", [("cursor=-1", "cursor"), ("count=0", "count"), ("count=1001", "count")])
def test_scan_invalid_is_400(owner, query, field):
    assert field in error_of(owner.get(MAP + "user?op=scan&" + query), 400)["fields"]


# encodings


def test_binary_field_name_comes_back_as_base64(owner):
    data_redis().hset(STORED, b"\xff\x00", "hi")
    data = data_of(owner.get(MAP + "user"))
    assert data == {"key": "user", "fields": {"/wA=": "aGk="}, "encoding": "base64"}


def test_base64_fields_in_and_out(owner):
    data_of(owner.put(MAP + "user?encoding=base64", {"fields": {"/wD+": "aGk="}}))
    assert stored_redis().hgetall(STORED) == {b"\xff\x00\xfe": b"hi"}
    field = quote("/wD+", safe="")
    data = data_of(owner.get(MAP + f"user?op=get&field={field}&encoding=base64"))
    assert data == {"key": "user", "value": "aGk=", "encoding": "base64"}


def test_mget_names_follow_the_response_encoding(owner):
    data_redis().hset(STORED, mapping={"a": b"\xff", "b": "text"})
    data = data_of(owner.get(MAP + "user?op=mget&field=a&field=b&field=c"))
    assert data == {"key": "user", "fields": {"YQ==": "/w==", "Yg==": "dGV4dA==", "Yw==": None}, "encoding": "base64"}


def test_invalid_base64_field_name_is_400(owner):
    error = error_of(owner.put(MAP + "user?encoding=base64", {"fields": {"not base64!": "aGk="}}), 400)
    assert "fields" in error["fields"]
    assert data_redis().exists(STORED) == 0


def test_invalid_base64_query_field_is_400(owner):
    assert "field" in error_of(owner.get(MAP + "user?op=get&field=%21%21&encoding=base64"), 400)["fields"]


# types, permissions, key names, pipeline


def test_string_key_is_409(owner):
    data_redis().set(STORED, "text")
    assert error_of(owner.get(MAP + "user"), 409)["code"] == "wrong_type"
    assert error_of(owner.put(MAP + "user", {"fields": {"a": "1"}}), 409)["code"] == "wrong_type"
    assert data_redis().get(STORED) == b"text"


def test_reader_reads_but_cannot_write(owner, reader):
    put_fields(owner, {"a": "1"})
    assert data_of(reader.get(MAP + "user?op=get&field=a"))["value"] == "1"
    assert reader.put(MAP + "user", {"fields": {"a": "2"}}).status_code == 403
    assert reader.post(MAP + "user?op=incr", {"field": "n"}).status_code == 403
    assert reader.delete(MAP + "user?op=del&field=a").status_code == 403
    assert stored_redis().hgetall(STORED) == {b"a": b"1"}


def test_outsider_cannot_read(owner, outsider):
    put_fields(owner, {"a": "1"})
    assert outsider.get(MAP + "user").status_code == 403


def test_hostile_key_names_stay_in_namespace(owner):
    for name in ("../beta/user", "ns:beta:user", "a b?c#d"):
        data_of(owner.put(MAP + quote(name), {"fields": {"a": "1"}}))
        assert stored_redis().hgetall(stored_key(f"{name}")) == {b"a": b"1"}
    assert stored_keys(stored_key("*", "beta")) == []


def test_area_listing_shows_only_hashes(owner):
    put_fields(owner, {"a": "1"})
    data_redis().set(stored_key("text"), "x")
    assert data_of(owner.get(MAP))["keys"] == ["user"]


@pytest.mark.parametrize("atomic", [True, False])
def test_pipeline(owner, atomic):
    body = {
        "atomic": atomic,
        "operations": [
            {"area": "map", "op": "set", "key": "user", "args": {"fields": {"a": "1"}}},
            {"area": "map", "op": "incr", "key": "user", "args": {"field": "a", "by": 2}},
            {"area": "map", "op": "mget", "key": "user", "args": {"field": ["a", "b"]}},
            {"area": "map", "op": "getall", "key": "user"},
            {"area": "map", "op": "randfield", "key": "user", "args": {"count": -2, "withvalues": True}},
            {"area": "map", "op": "scan", "key": "user"},
        ],
    }
    results = [item["data"] for item in data_of(owner.post("/api/v1/ns/alpha/pipeline", body))["results"]]
    assert results[1]["value"] == 3
    assert results[2]["fields"] == {"a": "3", "b": None}
    assert results[3]["fields"] == {"a": "3"}
    assert results[4]["fields"] == ["a", "a"]
    assert results[4]["values"] == ["3", "3"]
    assert results[5]["fields"] == {"a": "3"}
    assert data_redis().hget(STORED, "a") == b"3"


def test_atomic_pipeline_checks_type(owner):
    data_redis().set(STORED, "text")
    body = {"atomic": True, "operations": [{"area": "map", "op": "set", "key": "user", "args": {"fields": {"a": "1"}}}]}
    assert error_of(owner.post("/api/v1/ns/alpha/pipeline", body), 409)["code"] == "wrong_type"
    assert data_redis().get(STORED) == b"text"
