"""Pipelines and JSON bodies give the same responses and stored data with and without the fast validation path.

Each scenario runs twice against an empty data Redis: once as served, then with every
serializer run through DRF (the fast path switched off). Responses and the stored keys
must be identical. TTLs in milliseconds are compared as "set or not", because the two
runs happen at different times.
"""

import json

import pytest

from apps.core.redis import data_redis
from apps.data.fastpath import validation

from .conftest import stored_keys, stored_redis

PIPELINE = "/api/v1/ns/alpha/pipeline"
# A placeholder that the raw body turns into a number past the double range, which JSON
# parses as infinity (the encoder would write "Infinity", which DRF rejects as a whole).
HUGE = "__HUGE_NUMBER__"

ODD_KEYS = [
    "plain", "with space", " lead", "slash/ed/key", "{alpha}", "ns:{beta}:x", "é-ü", "한국", "tab\tkey", "x" * 40,
    "", "nul\x00key", "\ud800", "*", "a" * 16,
]  # fmt: skip
ODD_VALUES = ["", "v", "é", "x" * 70, 5, 1.5, True, None, [], {}, "\ud800", "a\x00b"]
NUMBERS = [0, 1, -1, 2.5, -0.0, 2**63 - 1, 2**63, -(2**63), 2**70, True, "5", None, HUGE]


def op(area: str, name: str, key: str | None = None, /, encoding: str | None = None, **args) -> dict:
    """Build an operation; ``key`` is positional so that an argument may be named key too."""
    spec = {"area": area, "op": name, "args": args}
    if key is not None:
        spec["key"] = key
    if encoding is not None:
        spec["encoding"] = encoding
    return spec


def kv_operations() -> list[dict]:
    operations = [op("kv", "set", key, value=f"v-{index}") for index, key in enumerate(ODD_KEYS)]
    operations += [op("kv", "get", key) for key in ODD_KEYS]
    operations += [op("kv", "set", "odd", value=value) for value in ODD_VALUES]
    operations += [op("kv", "incr", "counter", by=by) for by in NUMBERS]
    operations += [op("kv", "decr", "counter", by=by) for by in NUMBERS]
    operations += [
        op("kv", "set", "t", value="1", ttl=100),
        op("kv", "set", "t", value="1", ttl=0),
        op("kv", "set", "t", value="1", ttl=2**70),
        op("kv", "set", "t", value="1", ttl=1.5),
        op("kv", "set", "t", value="1", ttl_ms=5000, nx=True),
        op("kv", "set", "t", value="2", xx=True, get=True),
        op("kv", "set", "t", value="1", keepttl=True, ttl=5),
        op("kv", "set", "t", value="1", nx=True, xx=True),
        op("kv", "set", "t", value="1", nx=1),
        op("kv", "set", "t", valu="1"),
        op("kv", "set", "t"),
        op("kv", "get", "t"),
        op("kv", "get", "t", extra=1),
        op("kv", "ttl", "t"),
        op("kv", "exists", "t"),
        op("kv", "expire", "t", ttl=50),
        op("kv", "expire", "t", ttl=50, ttl_ms=5),
        op("kv", "expire", "t", ttl_ms=5000, xx=True, gt=True),
        op("kv", "persist", "t"),
        op("kv", "set", "b64", encoding="base64", value="/wD+"),
        op("kv", "set", "b64", encoding="base64", value="not base64!"),
        op("kv", "get", "b64"),
        op("kv", "get", "b64", encoding="base64"),
        op("kv", "mset", items={"m1": "1", "m2": "2"}),
        op("kv", "mset", items={"m1": "1", "m2": "2"}, nx=True),
        op("kv", "mset", items={}),
        op("kv", "mget", key=["m1", "m2", "missing"]),
        op("kv", "mget", key=[]),
        op("kv", "mget", key="m1"),
        op("kv", "keys", pattern="m*", count=10, unknown="ignored"),
        op("kv", "delete", key=["m1"]),
        op("kv", "delete", "m2"),
        op("kv", "delete", "m2", key=["x"]),
        op("kv", "get", "t", encoding="latin-1"),
    ]
    return operations


def structure_operations() -> list[dict]:
    return [
        op("map", "set", "h", fields={"f": "1", "g": "x", "": "blank"}),
        op("map", "set", "h", fields={"f": "2"}, nx=True),
        op("map", "set", "h", fields={"f": "2", "g": "3"}, nx=True),
        op("map", "set", "h", fields={}),
        op("map", "set", "h", fields={"f": 1}),
        op("map", "set", "h", fields={"x" * 70: "big"}),
        op("map", "set", "hb", encoding="base64", fields={"Zg==": "dg==", "Zg": "dg=="}),
        op("map", "get", "h", field="f"),
        op("map", "get", "h", field="missing"),
        op("map", "get", "h"),
        op("map", "mget", "h", field=["f", "g", "zz"]),
        op("map", "incr", "h", field="f", by=3),
        op("map", "incr", "h", field="f", by=0.5),
        op("map", "incr", "h", field="g", by=1),
        op("map", "incr", "h", field="f", by=HUGE),
        op("map", "hexists", "h", field="g"),
        op("map", "strlen", "h", field="g"),
        op("map", "del", "h", field=["g"]),
        op("map", "getall", "h"),
        op("map", "len", "h"),
        op("map", "keys", "h"),
        op("map", "vals", "h"),
        op("map", "scan", "h", cursor="0", count=10),
        op("queue", "push", "q", values=["a", "b", "c"]),
        op("queue", "push", "q", values=["z"], side="left"),
        op("queue", "push", "q", values=["z"], side="middle"),
        op("queue", "push", "q", values=[]),
        op("queue", "push", "q", values=["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]),
        op("queue", "push", "nq", values=["a"], xx=True),
        op("queue", "pop", "q"),
        op("queue", "pop", "q", count=2),
        op("queue", "pop", "q", count=0),
        op("queue", "range", "q", start=0, stop=-1),
        op("queue", "range", "q", start="0"),
        op("queue", "index", "q", index=0),
        op("queue", "index", "q", index=99),
        op("queue", "len", "q"),
        op("queue", "set", "q", index=0, value="first"),
        op("queue", "set", "q", index=50, value="far"),
        op("queue", "insert", "q", where="before", pivot="first", value="zero"),
        op("queue", "insert", "q", where="middle", pivot="first", value="zero"),
        op("queue", "pos", "q", value="first", rank=0),
        op("queue", "pos", "q", value="first", count=0),
        op("queue", "rem", "q", value="zero", count=0),
        op("queue", "move", "q", destination="q2", from_side="right"),
        op("queue", "bpop", "q", timeout_ms=10),
        op("queue", "trim", "q", start=0, stop=0),
        op("group", "add", "s", members=["a", "b", "c"]),
        op("group", "add", "s", members=["a", 1]),
        op("group", "add", "s2", members=["b", "d"]),
        op("group", "rem", "s", member=["c"]),
        op("group", "ismember", "s", member="a"),
        op("group", "mismember", "s", member=["a", "z"]),
        op("group", "card", "s"),
        op("group", "members", "s"),
        op("group", "union", "s", key=["s2"]),
        op("group", "inter", "s", key=["s2"]),
        op("group", "diff", "s", key=["s2"]),
        op("group", "unionstore", "s3", key=["s", "s2"]),
        op("group", "interstore", "s3", key=[]),
        op("group", "intercard", "s", key=["s2"], limit=0),
        op("group", "move", "s", destination="s4", member="a"),
        op("group", "scan", "s", count=10),
        op("rank", "add", "z", members={"a": 1, "b": 2.5, "c": "-inf", "d": "+inf"}),
        op("rank", "add", "z", members={"e": "inf", "f": "nan"}),
        op("rank", "add", "z", members={"e": True}),
        op("rank", "add", "z", members={"e": HUGE}),
        op("rank", "add", "z", members={"a": 5}, xx=True, ch=True),
        op("rank", "add", "z", members={"a": 1}, nx=True, xx=True),
        op("rank", "add", "z", members={"a": 1, "b": 1}, incr=True),
        op("rank", "add", "z", members={"a": 1}, incr=True),
        op("rank", "incr", "z", member="b", by=-1),
        op("rank", "incr", "z", member="c", by="+inf"),
        op("rank", "incr", "z", member="b"),
        op("rank", "score", "z", member="a"),
        op("rank", "mscore", "z", member=["a", "zz"]),
        op("rank", "rank", "z", member="a", rev=True),
        op("rank", "card", "z"),
        op("rank", "range", "z"),
        op("rank", "range", "z", by="score", min="(1", max="+inf", withscores=True),
        op("rank", "range", "z", by="score", min="(x"),
        op("rank", "range", "z", by="lex", min="[a", max="+"),
        op("rank", "range", "z", by="rank", min=1),
        op("rank", "range", "z", start=0, stop=1, offset=1),
        op("rank", "count", "z", min="(1.5", max=10),
        op("rank", "lexcount", "z", min="[a", max="(c"),
        op("rank", "rem", "z", members=["d"]),
        op("rank", "popmin", "z"),
        op("rank", "popmax", "z", count=2),
        op("rank", "remrange", "z", by="score", min=0, max=1),
        op("rank", "remrange", "z", by="score"),
        op("event", "add", "e", id="1-1", fields={"f": "v"}),
        op("event", "add", "e", id="0-0", fields={"f": "v"}),
        op("event", "add", "e", id="2-0", fields={"f": "v"}, maxlen=5, approximate=True),
        op("event", "range", "e", start="-", end="+", count=2),
        op("event", "len", "e"),
        op("event", "creategroup", "e", group="g", id="0"),
        op("event", "creategroup", "e", group="g", id="0"),
        op("event", "ack", "e", group="g", ids=["1-1"]),
        op("event", "ack", "e", group="g", ids=["1-x"]),
        op("event", "del", "e", id=["1-1"]),
        op("event", "trim", "e", maxlen=1),
        op("kv", "set", "h", value="over a hash"),
        op("kv", "get", "q"),
        op("map", "get", "z", field="a"),
        {"area": "kv", "op": " get ", "key": "plain"},
        {"area": "kv", "op": "", "key": "plain"},
        {"area": "kv", "op": 5, "key": "plain"},
        {"area": "kv", "op": "get", "key": 5},
        {"area": "kv", "op": "get", "key": "plain", "args": ["list"]},
        {"area": "kv", "op": "get", "key": "plain", "args": None},
        {"area": "kv", "op": "get", "key": "plain", "extra": True},
        {"area": "nowhere", "op": "get", "key": "plain"},
        {"area": "kv", "op": "explode", "key": "plain"},
        {"area": "kv", "op": "keys"},
        {"op": "get", "key": "plain"},
        {"area": "kv", "key": "plain"},
        {},
    ]


def raw_body(document: dict) -> bytes:
    return json.dumps(document).replace(f'"{HUGE}"', "1e400").encode()


def normalized(value):
    """Return value with every positive ``ttl_ms`` replaced by True."""
    if isinstance(value, dict):
        return {
            name: True if name == "ttl_ms" and isinstance(item, int) and item > 0 else normalized(item)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def stored_state() -> dict:
    """Return every key of the data Redis with its type, contents and whether it expires."""
    client = stored_redis()
    state = {}
    for key in stored_keys():
        kind = client.type(key).decode()
        if kind == "string":
            contents = client.get(key)
        elif kind == "hash":
            contents = sorted(client.hgetall(key).items())
        elif kind == "list":
            contents = client.lrange(key, 0, -1)
        elif kind == "set":
            contents = sorted(client.smembers(key))
        elif kind == "zset":
            contents = client.zrange(key, 0, -1, withscores=True)
        else:
            contents = [(entry_id, sorted(fields.items())) for entry_id, fields in client.xrange(key)]
        state[key] = (kind, contents, client.pttl(key) > 0)
    return state


def sorted_set_replies(response: dict) -> dict:
    """Sort the member lists of group replies, whose order Redis does not fix for hash-table sets."""
    for result in response.get("data", {}).get("results", []):
        data = result.get("data")
        if isinstance(data, dict) and isinstance(data.get("members"), list) and "scores" not in data:
            data["members"] = sorted(data["members"])
    return response


def run_scenario(owner, requests: list[tuple[str, str, dict]]) -> tuple[list, dict]:
    data_redis().flushdb()
    responses = []
    for method, path, document in requests:
        response = owner.request(method, path, raw=raw_body(document))
        responses.append((response.status_code, sorted_set_replies(normalized(response.json()))))
    return responses, stored_state()


@pytest.fixture
def fast_path_runs(monkeypatch):
    """Count the arguments that the compiled serializers accepted by themselves."""
    accepted = []
    run = validation.CompiledSerializer.run

    def counting_run(self, data, context):
        result = run(self, data, context)
        accepted.append(self.serializer_class.__name__)
        return result

    monkeypatch.setattr(validation.CompiledSerializer, "run", counting_run)
    return accepted


def assert_same_without_fast_path(owner, requests, accepted: list[str]) -> None:
    served = run_scenario(owner, requests)
    assert accepted, "the fast path accepted no input"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validation, "compile_serializer", lambda serializer_class: None)
        patch.setattr(validation, "_compiled", {})
        through_serializers = run_scenario(owner, requests)

    assert served[0] == through_serializers[0]
    assert served[1] == through_serializers[1]


@pytest.fixture
def small_limits(settings):
    settings.REDGX_MAX_VALUE_BYTES = 64
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 10
    settings.REDGX_MAX_KEY_BYTES = 32


def test_pipelines_match_serializers(owner, small_limits, fast_path_runs):
    operations = kv_operations() + structure_operations()
    requests = [("POST", PIPELINE, {"operations": operations[start : start + 40]}) for start in range(0, 400, 40)]

    assert_same_without_fast_path(owner, [request for request in requests if request[2]["operations"]], fast_path_runs)


def test_atomic_pipelines_match_serializers(owner, small_limits, fast_path_runs):
    valid = [
        op("kv", "set", "a", value="1"),
        op("kv", "incr", "a", by=2),
        op("map", "set", "h", fields={"f": "v"}),
        op("queue", "push", "q", values=["x"]),
        op("rank", "add", "z", members={"m": 1}),
        op("kv", "get", "a"),
    ]
    requests = [
        ("POST", PIPELINE, {"atomic": True, "operations": valid}),
        ("POST", PIPELINE, {"atomic": True, "operations": [*valid, op("kv", "set", "b", value=5)]}),
        ("POST", PIPELINE, {"atomic": True, "operations": [op("kv", "incr", "h"), *valid]}),
        ("POST", PIPELINE, {"atomic": "yes", "operations": valid}),
        ("POST", PIPELINE, {"atomic": 1, "operations": valid}),
        ("POST", PIPELINE, {"operations": [["kv", "get"]]}),
        ("POST", PIPELINE, {"operations": [op("kv", "get", "a")] * 11, "atomic": False}),
        ("POST", PIPELINE, {"operations": []}),
        ("POST", PIPELINE, {"operations": valid, "unknown": 1}),
    ]

    assert_same_without_fast_path(owner, requests, fast_path_runs)


def test_single_operation_bodies_match_serializers(owner, small_limits, fast_path_runs):
    requests = [("PUT", "/api/v1/ns/alpha/kv/k", {"value": value}) for value in ODD_VALUES]
    requests += [("POST", "/api/v1/ns/alpha/kv/n?op=incr", {"by": by}) for by in NUMBERS]
    requests += [
        ("PUT", "/api/v1/ns/alpha/kv/k", {"value": "v", "ttl": 10, "nx": False}),
        ("PUT", "/api/v1/ns/alpha/kv/k?encoding=base64", {"value": "/wD+"}),
        ("PUT", "/api/v1/ns/alpha/kv/k", {"value": "v", "extra": 1}),
        ("PUT", "/api/v1/ns/alpha/map/h", {"fields": {"f": "v"}}),
        ("POST", "/api/v1/ns/alpha/queue/q", {"values": ["a", "b"]}),
        ("POST", "/api/v1/ns/alpha/rank/z", {"members": {"a": 1, "b": "inf"}}),
        ("POST", "/api/v1/ns/alpha/group/s", {"members": ["a"]}),
        ("POST", "/api/v1/ns/alpha/kv/?op=mset", {"items": {"x": "1"}}),
    ]

    assert_same_without_fast_path(owner, requests, fast_path_runs)
