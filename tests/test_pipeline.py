"""POST /api/v1/ns/{ns}/pipeline: many operations, one request, one round trip to Redis."""

from apps.core.redis import data_redis

from .conftest import stored_key

PIPELINE = "/api/v1/ns/alpha/pipeline"


def kv(op: str, key: str | None = None, **args) -> dict:
    spec = {"area": "kv", "op": op, "args": args}
    if key is not None:
        spec["key"] = key
    return spec


def results_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["data"]["results"]


def test_hundred_operations(owner):
    operations = [kv("set", f"k{n}", value=str(n)) for n in range(50)] + [kv("get", f"k{n}") for n in range(50)]
    results = results_of(owner.post(PIPELINE, {"operations": operations}))
    assert len(results) == 100
    assert all(result["ok"] for result in results)
    assert [result["data"]["value"] for result in results[50:]] == [str(n) for n in range(50)]
    assert data_redis().get(stored_key("k49")) == b"49"


def test_failures_are_reported_per_operation(owner):
    data_redis().hset(stored_key("h"), "f", "v")
    operations = [
        kv("set", "a", value="1"),
        kv("get", "missing"),
        kv("set", "b", value=5),
        kv("incr", "h"),
        {"area": "nowhere", "op": "get", "key": "x"},
        kv("explode", "x"),
        kv("set", "", value="v"),
        kv("get", "a"),
    ]
    results = results_of(owner.post(PIPELINE, {"operations": operations}))
    assert results[0] == {"ok": True, "data": {"key": "a", "written": True}}
    assert results[1]["status"] == 404
    assert results[1]["error"]["code"] == "key_not_found"
    assert results[2]["status"] == 400
    assert "value" in results[2]["error"]["fields"]
    assert results[3]["status"] == 409
    assert results[3]["error"]["code"] == "wrong_type"
    assert results[4]["status"] == 400
    assert results[5]["error"]["code"] == "unknown_operation"
    assert results[6]["error"]["code"] == "invalid_key"
    assert results[7]["data"]["value"] == "1"
    assert data_redis().exists(stored_key("b")) == 0


def test_mixed_permissions_run_what_is_allowed(owner, reader):
    owner.put("/api/v1/ns/alpha/kv/a", {"value": "1"})
    results = results_of(reader.post(PIPELINE, {"operations": [kv("get", "a"), kv("set", "a", value="2")]}))
    assert results[0]["data"]["value"] == "1"
    assert results[1]["status"] == 403
    assert results[1]["error"]["code"] == "permission_denied"
    assert data_redis().get(stored_key("a")) == b"1"


def test_atomic_with_forbidden_operation_runs_nothing(owner, reader):
    response = reader.post(PIPELINE, {"atomic": True, "operations": [kv("get", "a"), kv("set", "b", value="2")]})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert set(error["fields"]) == {"1"}
    assert data_redis().exists(stored_key("b")) == 0


def test_atomic_type_clash_runs_nothing(owner):
    data_redis().hset(stored_key("h"), "f", "v")
    operations = [kv("set", "a", value="1"), kv("incr", "counter"), kv("incr", "h")]
    response = owner.post(PIPELINE, {"atomic": True, "operations": operations})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "wrong_type"
    assert "Operation 2" in error["message"]
    assert data_redis().exists(stored_key("a")) == 0
    assert data_redis().exists(stored_key("counter")) == 0


def test_atomic_invalid_operation_runs_nothing(owner):
    response = owner.post(PIPELINE, {"atomic": True, "operations": [kv("set", "a", value="1"), kv("set", "b")]})
    assert response.status_code == 400
    assert data_redis().exists(stored_key("a")) == 0


def test_atomic_success(owner):
    mget = {"area": "kv", "op": "mget", "args": {"key": ["a", "zz"]}}
    operations = [kv("set", "a", value="1"), kv("incr", "a", by=4), kv("get", "a"), mget]
    results = results_of(owner.post(PIPELINE, {"atomic": True, "operations": operations}))
    assert [result["ok"] for result in results] == [True, True, True, True]
    assert results[1]["data"]["value"] == 5
    assert results[2]["data"]["value"] == "5"
    assert results[3]["data"]["values"] == {"a": "5", "zz": None}
    assert response_is_atomic(owner, operations)


def response_is_atomic(client, operations) -> bool:
    return client.post(PIPELINE, {"atomic": True, "operations": operations}).json()["data"]["atomic"] is True


def test_atomic_binary_values(owner):
    operation = {"area": "kv", "op": "set", "key": "bin", "encoding": "base64", "args": {"value": "/wD+"}}
    results = results_of(owner.post(PIPELINE, {"atomic": True, "operations": [operation]}))
    assert results[0]["ok"] is True
    assert data_redis().get(stored_key("bin")) == b"\xff\x00\xfe"


def test_atomic_runtime_error_keeps_earlier_commands(owner):
    """Like MULTI/EXEC, a command Redis rejects while running does not undo the others."""
    operations = [kv("set", "a", value="text"), kv("incr", "a"), kv("set", "b", value="2")]
    results = results_of(owner.post(PIPELINE, {"atomic": True, "operations": operations}))
    assert results[0]["ok"] is True
    assert results[1]["error"]["code"] == "not_integer"
    assert results[2]["ok"] is True
    assert data_redis().get(stored_key("b")) == b"2"


def test_no_grant_is_403(outsider):
    response = outsider.post(PIPELINE, {"operations": [kv("get", "a")]})
    assert response.status_code == 403


def test_too_many_operations_is_413(owner, settings):
    settings.REDGX_MAX_PIPELINE_OPERATIONS = 3
    response = owner.post(PIPELINE, {"operations": [kv("get", "a")] * 4})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_operations"


def test_empty_or_malformed_pipeline_is_400(owner):
    assert owner.post(PIPELINE, {"operations": []}).status_code == 400
    assert owner.post(PIPELINE, {"operations": "get"}).status_code == 400
    assert owner.post(PIPELINE, {"ops": []}).status_code == 400
    response = owner.post(PIPELINE, {"operations": [["kv", "get"]]})
    assert response.status_code == 400


def test_pipeline_keys_stay_in_namespace(owner):
    data_redis().set(stored_key("secret", "beta"), "s")
    results = results_of(
        owner.post(PIPELINE, {"operations": [kv("get", "../beta/secret"), kv("get", "ns:beta:secret")]})
    )
    assert [result["status"] for result in results] == [404, 404]


def test_atomic_overwrites_like_redis(owner):
    """SET and the STORE forms replace a key of any type, in an atomic pipeline too."""
    data_redis().hset(stored_key("h"), "f", "v")
    data_redis().hset(stored_key("dest"), "f", "v")
    data_redis().sadd(stored_key("s"), "m")
    operations = [
        kv("set", "h", value="now a string"),
        {"area": "group", "op": "unionstore", "key": "dest", "args": {"key": ["s"]}},
    ]
    results = results_of(owner.post(PIPELINE, {"atomic": True, "operations": operations}))
    assert [result["ok"] for result in results] == [True, True]
    assert data_redis().get(stored_key("h")) == b"now a string"
    assert data_redis().smembers(stored_key("dest")) == [b"m"]


def test_atomic_store_source_of_other_type_runs_nothing(owner):
    data_redis().hset(stored_key("h"), "f", "v")
    operations = [
        kv("set", "a", value="1"),
        {"area": "group", "op": "unionstore", "key": "dest", "args": {"key": ["h"]}},
    ]
    response = owner.post(PIPELINE, {"atomic": True, "operations": operations})
    assert response.status_code == 409
    assert data_redis().exists(stored_key("a")) == 0
