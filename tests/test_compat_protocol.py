"""Wire format of the Upstash-compatible API: request forms, results, errors and limits."""

import json

from django.test import Client, override_settings

from .conftest import stored_key, stored_keys, stored_redis

BASE = "/compat/upstash/ns/alpha"


def post(path: str, body, key: str, **headers):
    return Client().post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )


def test_path_form_with_options(owner_key):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {owner_key}"}
    assert client.get(f"{BASE}/set/foo/bar/EX/100", **auth).json() == {"result": "OK"}
    assert 0 < stored_redis().ttl(stored_key("foo")) <= 100
    assert client.get(f"{BASE}/get/foo", **auth).json() == {"result": "bar"}
    assert client.head(f"{BASE}/get/foo", **auth).status_code == 200


def test_path_form_body_is_last_argument(owner_key):
    client = Client()
    raw = b'{"json": true}\x00\xff'
    response = client.post(
        f"{BASE}/set/doc?EX=100", raw, content_type="application/octet-stream", HTTP_AUTHORIZATION=f"Bearer {owner_key}"
    )
    assert response.json() == {"result": "OK"}
    assert stored_redis().get(stored_key("doc")) == raw
    assert 0 < stored_redis().ttl(stored_key("doc")) <= 100


def test_base64_encoding_header(owner_key):
    stored_redis().set(stored_key("k"), "value")
    assert post(BASE, ["GET", "k"], owner_key, HTTP_UPSTASH_ENCODING="base64").json() == {"result": "dmFsdWU="}
    # "OK" stays plain, as both Upstash SDKs expect.
    assert post(BASE, ["SET", "k", "v"], owner_key, HTTP_UPSTASH_ENCODING="base64").json() == {"result": "OK"}
    assert post(BASE, ["INCR", "n"], owner_key, HTTP_UPSTASH_ENCODING="base64").json() == {"result": 1}


def test_numbers_and_booleans_become_text(owner_key):
    assert post(BASE, ["SET", "n", 1.5], owner_key).json() == {"result": "OK"}
    assert post(BASE, ["SET", "b", True], owner_key).json() == {"result": "OK"}
    assert stored_redis().get(stored_key("n")) == b"1.5"
    assert stored_redis().get(stored_key("b")) == b"true"


def test_malformed_requests(owner_key):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {owner_key}"}
    response = client.post(BASE, b"not json", content_type="application/json", **auth)
    assert response.status_code == 400
    assert response.json() == {"error": "ERR the request body is not valid JSON."}
    response = post(BASE, {"command": "GET"}, owner_key)
    assert response.status_code == 400
    assert response.json()["error"].startswith("ERR a command must be a non-empty JSON array")
    response = post(BASE, ["SET", "k", {"nested": 1}], owner_key)
    assert response.json() == {"error": "ERR arguments must be JSON strings, numbers or booleans."}
    response = post(BASE, ["GETT", "k"], owner_key)
    assert response.json()["error"].startswith("ERR command 'gett' is not supported")
    response = post(BASE, ["GET"], owner_key)
    assert response.json() == {"error": "ERR wrong number of arguments for 'get' command."}
    response = post(BASE, ["ZUNIONSTORE", "d", "x", "a"], owner_key)
    assert response.json()["error"] == "ERR invalid arguments for 'zunionstore': numkeys is not an integer."
    response = client.delete(f"{BASE}/get/k", **auth)
    assert response.status_code == 405


def test_redis_errors_keep_their_code(owner_key):
    stored_redis().set(stored_key("s"), "text")
    response = post(BASE, ["HGET", "s", "f"], owner_key)
    assert response.status_code == 400
    assert response.json() == {"error": "WRONGTYPE Operation against a key holding the wrong kind of value"}
    response = post(BASE, ["INCR", "s"], owner_key)
    assert response.json() == {"error": "ERR value is not an integer or out of range"}
    # The key name in Redis's message loses the namespace prefix.
    response = post(BASE, ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], owner_key)
    assert stored_key("") not in response.json()["error"]
    assert response.json()["error"].startswith("NOGROUP ") or response.json()["error"].startswith("WRONGTYPE ")


def test_blocking_commands_are_capped(owner_key):
    with override_settings(REDGX_MAX_BLOCK_MS=500):
        for command in (["BLPOP", "l", "0"], ["BLPOP", "l", "1"], ["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]):
            response = post(BASE, command, owner_key)
            assert response.status_code == 400, command
            assert "between 1 ms and 500 ms" in response.json()["error"]
        assert post(BASE, ["BRPOP", "l", "0.05"], owner_key).json() == {"result": None}
        body = [["BLPOP", "l", "0.3"], ["BLPOP", "l", "0.3"]]
        response = post(f"{BASE}/pipeline", body, owner_key)
        assert response.status_code == 400
        assert "wait 500 ms in total" in response.json()["error"]


def test_size_limits(owner_key):
    with override_settings(REDGX_MAX_VALUE_BYTES=10, REDGX_MAX_PIPELINE_OPERATIONS=2, REDGX_MAX_KEY_BYTES=5):
        response = post(BASE, ["SET", "k", "x" * 11], owner_key)
        assert response.status_code == 413
        assert response.json() == {"error": "ERR an argument is larger than 10 bytes."}
        response = post(BASE, ["SET", "longkey", "x"], owner_key)
        assert response.json() == {"error": "ERR a key name is longer than 5 bytes."}
        response = post(f"{BASE}/pipeline", [["PING"]] * 3, owner_key)
        assert response.status_code == 413
    with override_settings(REDGX_MAX_BODY_BYTES=100, DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        response = post(BASE, ["SET", "k", "x" * 200], owner_key)
        assert response.status_code == 413
    assert stored_keys() == []


def test_pipeline_keeps_order_and_errors(owner_key):
    body = [["SET", "a", "1"], ["FLUSHALL"], ["INCR", "a"], ["RPUSH", "l", "x"], ["LPOP", "a"]]
    results = post(f"{BASE}/pipeline", body, owner_key).json()
    assert results[0] == {"result": "OK"}
    assert results[1]["error"].startswith("ERR command 'flushall' is not allowed")
    assert results[2] == {"result": 2}
    assert results[3] == {"result": 1}
    assert results[4] == {"error": "WRONGTYPE Operation against a key holding the wrong kind of value"}


def test_multi_exec_reports_runtime_errors_in_place(owner_key):
    body = [["SET", "a", "x"], ["INCR", "a"], ["GET", "a"]]
    results = post(f"{BASE}/multi-exec", body, owner_key).json()
    assert results == [{"result": "OK"}, {"error": "ERR value is not an integer or out of range"}, {"result": "x"}]


def test_path_form_decodes_encoded_slash(owner_key):
    # gunicorn passes the undecoded path as RAW_URI; the test client's path has %2F decoded already.
    response = Client().get(
        f"{BASE}/set/a/b/c",
        RAW_URI=f"{BASE}/set/dir%2Ffile/caf%C3%A9%20ok?ignored=",
        HTTP_AUTHORIZATION=f"Bearer {owner_key}",
    )
    assert response.json() == {"result": "OK"}
    assert stored_redis().get(stored_key("dir/file")) == "café ok".encode()


@override_settings(REDGX_MAX_ITEMS_PER_REQUEST=50)
def test_keys_scans_only_the_namespace(owner_key):
    stored = stored_redis()
    for n in range(30):
        stored.set(stored_key(f"user:{n}"), n)
    stored.set(stored_key("other"), 1)
    stored.set(stored_key("user:x", namespace="beta"), 1)

    reply = post(BASE, ["KEYS", "user:*"], owner_key).json()
    assert sorted(reply["result"]) == sorted(f"user:{n}" for n in range(30))

    for n in range(30, 60):
        stored.set(stored_key(f"user:{n}"), n)
    refused = post(BASE, ["KEYS", "user:*"], owner_key)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("ERR more than 50 keys match")


def test_keys_runs_only_as_a_single_command(owner_key):
    stored_redis().set(stored_key("k"), "v")
    results = post(f"{BASE}/pipeline", [["KEYS", "*"], ["GET", "k"]], owner_key).json()
    assert results[0]["error"].startswith("ERR KEYS runs only as a single command")
    assert results[1] == {"result": "v"}

    aborted = post(f"{BASE}/multi-exec", [["SET", "k", "w"], ["KEYS", "*"]], owner_key)
    assert aborted.status_code == 400
    assert aborted.json()["error"].startswith("EXECABORT")
    assert stored_redis().get(stored_key("k")) == b"v"


def test_non_finite_numbers_are_rejected(owner_key):
    for raw in (b'["SET", "x", NaN]', b'["SET", "x", Infinity]', b'["SET", "x", -Infinity]', b'["SET", "x", 1e400]'):
        response = Client().post(BASE, raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {owner_key}")
        assert response.status_code == 400, raw
        assert response.json()["error"].startswith("ERR "), raw
    assert stored_redis().exists(stored_key("x")) == 0


def test_flat_command_sent_to_pipeline_is_400(owner_key):
    response = post(f"{BASE}/pipeline", ["GET", "x"], owner_key)
    assert response.status_code == 400
    assert response.json()["error"].startswith("ERR the request body must be a JSON array of commands")
