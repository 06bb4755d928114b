"""The real upstash-redis SDK (PyPI) and @upstash/redis SDK (npm) against a live RedGX server.

The SDKs send ``Upstash-Encoding: base64`` by default, so every test here also runs the
base64 path; test_binary_values_round_trip checks the exact bytes stored.
"""

import base64
import json
import os
import shutil
import subprocess

import httpx
import pytest
from upstash_redis import Redis as UpstashRedis
from upstash_redis.errors import UpstashError

from .conftest import READ, ROOT, WRITE, free_port, make_key, start_web, stored_key, stored_redis

NODE_CHECK_DIR = ROOT / "tests" / "compat"


def sdk_client(base_url: str, key: str, **options) -> UpstashRedis:
    # One attempt per request: a retried failure would only hide the first error.
    return UpstashRedis(url=base_url, token=key, rest_retries=0, allow_telemetry=False, **options)


@pytest.fixture
def owner_key_live(transactional_db) -> str:
    return make_key({"alpha": {READ, WRITE}})


@pytest.fixture
def alpha_url(live_server) -> str:
    return f"{live_server.url}/compat/upstash/ns/alpha"


@pytest.fixture
def sdk(alpha_url, owner_key_live):
    client = sdk_client(alpha_url, owner_key_live)
    yield client
    client.close()


def test_strings(sdk):
    stored = stored_redis()
    assert sdk.set("greeting", "hello", ex=100) is True
    assert sdk.get("greeting") == "hello"
    assert 0 < stored.ttl(stored_key("greeting")) <= 100
    assert sdk.set("greeting", "other", nx=True) is False
    assert sdk.incr("counter") == 1
    assert sdk.incrby("counter", 41) == 42
    assert sdk.incrbyfloat("ratio", 0.5) == 0.5
    assert sdk.mset({"a": "1", "b": "2"}) is True
    assert sdk.mget("a", "b", "missing") == ["1", "2", None]
    assert sdk.append("greeting", " world") == 11
    assert sdk.getdel("greeting") == "hello world"

    assert stored.get(stored_key("counter")) == b"42"
    assert stored.get(stored_key("a")) == b"1"
    assert stored.exists(stored_key("greeting")) == 0
    assert stored.exists("counter") == 0


def test_hashes(sdk):
    assert sdk.hset("user", values={"name": "Ada", "lang": "en"}) == 2
    assert sdk.hget("user", "name") == "Ada"
    assert sdk.hgetall("user") == {"name": "Ada", "lang": "en"}
    assert sdk.hincrby("user", "visits", 3) == 3
    assert sdk.hdel("user", "lang") == 1
    cursor, fields = sdk.hscan("user", 0)
    assert cursor == 0
    assert fields == {"name": "Ada", "visits": "3"}
    assert stored_redis().hgetall(stored_key("user")) == {b"name": b"Ada", b"visits": b"3"}


def test_lists_with_blocking_pop(sdk):
    assert sdk.rpush("jobs", "a", "b", "c") == 3
    assert sdk.lpush("jobs", "z") == 4
    assert sdk.lrange("jobs", 0, -1) == ["z", "a", "b", "c"]
    assert sdk.lpop("jobs") == "z"
    assert sdk.lmove("jobs", "done", "LEFT", "RIGHT") == "a"
    # The key name in a blocking pop's reply comes back without the namespace prefix.
    assert sdk.execute(["BLPOP", "empty", "jobs", "1"]) == ["jobs", "b"]
    assert sdk.execute(["BRPOP", "empty", "0.05"]) is None
    assert stored_redis().lrange(stored_key("jobs"), 0, -1) == [b"c"]
    assert stored_redis().lrange(stored_key("done"), 0, -1) == [b"a"]


def test_sets(sdk):
    assert sdk.sadd("red", "apple", "cherry") == 2
    assert sdk.sadd("sweet", "cherry", "honey") == 2
    assert sdk.sismember("red", "apple") is True
    assert sorted(sdk.sinter("red", "sweet")) == ["cherry"]
    assert sdk.sunionstore("both", "red", "sweet") == 3
    assert sorted(sdk.smembers("both")) == ["apple", "cherry", "honey"]
    assert sdk.scard("both") == 3
    assert stored_redis().smembers(stored_key("both")) == {b"apple", b"cherry", b"honey"}


def test_sorted_sets(sdk):
    assert sdk.zadd("board", {"ann": 10, "bob": 20, "cy": 15}) == 3
    assert sdk.zrange("board", 0, -1, withscores=True) == [("ann", 10.0), ("cy", 15.0), ("bob", 20.0)]
    assert sdk.zincrby("board", 7, "ann") == 17.0
    assert sdk.zscore("board", "ann") == 17.0
    assert sdk.zrank("board", "cy") == 0
    assert sdk.zpopmin("board") == [("cy", 15.0)]
    assert sdk.execute(["BZPOPMAX", "board", "1"]) == ["board", "bob", "20"]
    assert stored_redis().zrange(stored_key("board"), 0, -1, withscores=True) == [(b"ann", 17.0)]


def test_streams_with_consumer_group(sdk):
    first = sdk.xadd("events", "*", {"kind": "signup", "user": "ada"})
    second = sdk.xadd("events", "*", {"kind": "login"})
    assert sdk.xlen("events") == 2
    assert sdk.xgroup_create("events", "workers", "0") == "OK"

    entries = sdk.xreadgroup("workers", "w1", {"events": ">"}, count=1)
    assert entries == [["events", [[first, ["kind", "signup", "user", "ada"]]]]]
    pending = sdk.xpending("events", "workers")
    assert pending[0] == 1
    assert sdk.xack("events", "workers", first) == 1

    # A blocking group read through the raw command: the stream key comes back unprefixed.
    blocked = sdk.execute(["XREADGROUP", "GROUP", "workers", "w2", "BLOCK", "100", "STREAMS", "events", ">"])
    assert blocked == [["events", [[second, ["kind", "login"]]]]]
    claimed = sdk.xautoclaim("events", "workers", "w1", 0, "0-0")
    assert claimed[1] == [[second, ["kind", "login"]]]
    assert sdk.xinfo_groups("events")[0][1] == "workers"

    stored = stored_redis()
    assert stored.xlen(stored_key("events")) == 2
    assert stored.xinfo_groups(stored_key("events"))[0]["name"] == b"workers"
    assert stored.xpending(stored_key("events"), "workers")["pending"] == 1


def test_pipeline_runs_in_order(sdk):
    pipeline = sdk.pipeline()
    pipeline.set("p", "1")
    pipeline.incr("p")
    pipeline.hset("h", values={"f": "v"})
    pipeline.get("p")
    assert pipeline.exec() == [True, 2, 1, "2"]
    assert stored_redis().get(stored_key("p")) == b"2"


def test_pipeline_reports_errors_per_command(alpha_url, owner_key_live):
    body = [["SET", "s", "text"], ["INCR", "s"], ["EVAL", "return 1", "0"], ["GET", "s"]]
    response = httpx.post(f"{alpha_url}/pipeline", json=body, headers={"Authorization": f"Bearer {owner_key_live}"})
    assert response.status_code == 200
    results = response.json()
    assert results[0] == {"result": "OK"}
    assert results[1] == {"error": "ERR value is not an integer or out of range"}
    assert results[2]["error"].startswith("ERR command 'eval' is not allowed")
    assert results[3] == {"result": "text"}


def test_multi_exec_transaction(sdk):
    transaction = sdk.multi()
    transaction.set("balance", "100")
    transaction.decrby("balance", 30)
    transaction.rpush("ledger", "-30")
    transaction.get("balance")
    assert transaction.exec() == [True, 70, 1, "70"]
    stored = stored_redis()
    assert stored.get(stored_key("balance")) == b"70"
    assert stored.lrange(stored_key("ledger"), 0, -1) == [b"-30"]


def test_multi_exec_with_rejected_command_runs_nothing(alpha_url, owner_key_live):
    body = [["SET", "untouched", "1"], ["FLUSHALL"]]
    response = httpx.post(f"{alpha_url}/multi-exec", json=body, headers={"Authorization": f"Bearer {owner_key_live}"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("EXECABORT ")
    assert stored_redis().exists(stored_key("untouched")) == 0


def test_binary_values_round_trip(sdk, alpha_url, owner_key_live):
    text = 'line\nbreak "quoted" \x00 NUL, \u00e9, \u6f22\u5b57, \U0001f600'
    assert sdk.set("text", text) is True
    assert sdk.get("text") == text
    assert stored_redis().get(stored_key("text")) == text.encode("utf-8")

    # Bytes that are not UTF-8 go in as a raw request body (path form) and come back as base64.
    raw = bytes(range(256))
    headers = {"Authorization": f"Bearer {owner_key_live}"}
    response = httpx.post(f"{alpha_url}/set/blob", content=raw, headers=headers)
    assert response.json() == {"result": "OK"}
    assert stored_redis().get(stored_key("blob")) == raw
    response = httpx.post(alpha_url, json=["GET", "blob"], headers={**headers, "Upstash-Encoding": "base64"})
    assert base64.b64decode(response.json()["result"]) == raw

    # Without the encoding header such bytes cannot be JSON text, so the request fails clearly.
    response = httpx.post(alpha_url, json=["GET", "blob"], headers=headers)
    assert response.status_code == 400
    assert "Upstash-Encoding: base64" in response.json()["error"]


def test_scan_and_keys_stay_in_namespace(sdk):
    stored = stored_redis()
    stored.set(stored_key("secret", "beta"), "x")
    stored.set("outside", "x")
    sdk.set("k1", "v")
    sdk.set("k2", "v")
    cursor, keys = 0, []
    while True:
        cursor, page = sdk.scan(cursor, match="*")
        keys += page
        if cursor == 0:
            break
    assert sorted(keys) == ["k1", "k2"]
    assert sorted(sdk.keys("*")) == ["k1", "k2"]


def test_native_and_compat_share_keys(sdk, live_server, owner_key_live):
    native = f"{live_server.url}/api/v1/ns/alpha/kv"
    headers = {"X-API-Key": owner_key_live}
    assert httpx.put(f"{native}/shared", json={"value": "from native"}, headers=headers).status_code == 200
    assert sdk.get("shared") == "from native"
    sdk.set("back", "from compat")
    response = httpx.get(f"{native}/back", headers=headers)
    assert response.json()["data"]["value"] == "from compat"


def test_read_only_key_gets_sdk_error(alpha_url, transactional_db):
    reader = sdk_client(alpha_url, make_key({"alpha": {READ}}))
    with pytest.raises(UpstashError, match="NOPERM"):
        reader.set("k", "v")
    assert reader.get("k") is None
    assert stored_redis().exists(stored_key("k")) == 0
    reader.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_sdk_drives_redgx(transactional_db):
    """Run tests/compat/upstash-check.mjs (the @upstash/redis SDK) against gunicorn."""
    if not (NODE_CHECK_DIR / "node_modules" / "@upstash" / "redis").is_dir():
        pytest.skip("tests/compat/node_modules is missing: run `make compat` (npm ci) first")
    key = make_key({"alpha": {READ, WRITE}})
    reader = make_key({"alpha": {READ}})
    port = free_port()
    web = start_web("compat-web", port, WEB_CONCURRENCY="1", WEB_THREADS="8")
    try:
        env = {
            **os.environ,
            "UPSTASH_REDIS_REST_URL": f"http://127.0.0.1:{port}/compat/upstash/ns/alpha",
            "UPSTASH_REDIS_REST_TOKEN": key,
            "REDGX_READ_ONLY_TOKEN": reader,
            "UPSTASH_DISABLE_TELEMETRY": "1",
        }
        completed = subprocess.run(
            ["node", "upstash-check.mjs"], cwd=NODE_CHECK_DIR, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        web.stop()
    assert completed.returncode == 0, completed.stdout + completed.stderr + web.output()[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["failed"] == []
    assert report["passed"] >= 9
    stored = stored_redis()
    assert stored.get(stored_key("js:string")) == b"hello from node"
    assert stored.xlen(stored_key("js:events")) == 2
    assert stored.get(stored_key("js:blob")) == "caf\u00e9 \U0001f600 \x00".encode()
