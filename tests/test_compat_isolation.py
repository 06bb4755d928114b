"""Namespace isolation and grants on the Upstash-compatible API.

Personas: the owner reads and writes namespace alpha; the reader only reads alpha.
Namespace beta and a key outside every namespace hold data that nothing sent by the
owner may read or change.
"""

import base64
import json

import pytest
from django.test import Client, override_settings

from apps.compat.commands import ALLOWED, CommandError, PreparedCommand, command_info, confirm_keys
from apps.core.redis import data_redis
from apps.tenancy.permissions import Permission

from .conftest import stored_key, stored_keys, stored_redis

BASE = "/compat/upstash/ns/alpha"
BETA_SECRET = "beta-secret-value"
ALPHA_PREFIX = stored_key("").encode()

HOSTILE_COMMANDS = [
    ["EVAL", "return redis.call('GET', 'ns:beta:secret')", "0"],
    ["EVAL_RO", "return redis.call('KEYS', '*')", "0"],
    ["EVALSHA", "0123456789012345678901234567890123456789", "0"],
    ["FCALL", "steal", "0"],
    ["SCRIPT", "LOAD", "return 1"],
    ["FUNCTION", "LIST"],
    ["KEYS", "*"],
    ["KEYS", "ns:beta:*"],
    ["SCAN", "0", "MATCH", "*", "COUNT", "1000"],
    ["SCAN", "0", "MATCH", "ns:beta:*", "COUNT", "1000"],
    ["SCAN", "0", "COUNT", "1000", "MATCH", "x", "MATCH", "*"],
    ["SCAN", "0", "TYPE", "string", "COUNT", "1000"],
    ["GET", "ns:beta:secret"],
    ["MGET", "ns:beta:secret", "global"],
    ["RENAME", "ns:beta:secret", "stolen"],
    ["RENAME", "mine", "ns:beta:secret"],
    ["RENAMENX", "mine", "global"],
    ["COPY", "ns:beta:secret", "stolen"],
    ["COPY", "mine", "copied", "DB", "0"],
    ["MOVE", "mine", "0"],
    ["SWAPDB", "0", "14"],
    ["SELECT", "0"],
    ["MIGRATE", "127.0.0.1", "6379", "mine", "0", "1000"],
    ["SUNIONSTORE", "ns:beta:set", "ns:beta:set", "mine-set"],
    ["SINTER", "ns:beta:set"],
    ["SDIFFSTORE", "stolen-set", "ns:beta:set"],
    ["SMOVE", "ns:beta:set", "mine-set", "b1"],
    ["ZUNIONSTORE", "stolen-zset", "1", "ns:beta:zset"],
    ["ZUNIONSTORE", "ns:beta:zset", "2", "mine-zset", "ns:beta:zset", "WEIGHTS", "0", "0"],
    ["ZINTER", "2", "ns:beta:zset", "ns:beta:zset", "WITHSCORES"],
    ["BITOP", "OR", "stolen", "ns:beta:secret", "global"],
    ["LMOVE", "ns:beta:list", "mine-list", "LEFT", "LEFT"],
    ["BLPOP", "ns:beta:list", "0.05"],
    ["LMPOP", "2", "ns:beta:list", "global", "LEFT"],
    ["XREAD", "STREAMS", "ns:beta:stream", "0"],
    ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "ns:beta:stream", ">"],
    ["XGROUP", "DESTROY", "ns:beta:stream", "g"],
    ["DEL", "ns:beta:secret", "global", "ns:beta:set"],
    ["UNLINK", "ns:beta:list"],
    ["EXPIRE", "ns:beta:secret", "1"],
    ["SORT", "mine-list", "BY", "ns:beta:*", "GET", "ns:beta:*"],
    ["OBJECT", "ENCODING", "ns:beta:secret"],
    ["FLUSHALL"],
    ["FLUSHDB"],
    ["CONFIG", "SET", "maxmemory", "1"],
    ["CLIENT", "LIST"],
    ["DEBUG", "SLEEP", "0"],
    ["WAIT", "0", "0"],
    ["SUBSCRIBE", "news"],
    ["PUBLISH", "news", "x"],
    ["MONITOR"],
    ["SHUTDOWN"],
    ["REPLICAOF", "NO", "ONE"],
    ["ACL", "LIST"],
    ["MODULE", "LIST"],
    ["RANDOMKEY"],
    ["DBSIZE"],
    ["INFO"],
    ["DUMP", "ns:beta:secret"],
]


def post(client: Client, path: str, body, key: str, **headers):
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )


def seed_other_data() -> dict:
    """Store data in namespace beta and outside any namespace; return its snapshot."""
    stored = stored_redis()
    stored.set(stored_key("secret", "beta"), BETA_SECRET)
    stored.set("global", "global-value")
    stored.sadd(stored_key("set", "beta"), "b1", "b2")
    stored.zadd(stored_key("zset", "beta"), {"b1": 1})
    stored.rpush(stored_key("list", "beta"), "b1", "b2")
    stored.xadd(stored_key("stream", "beta"), {"f": "v"}, id="1-1")
    stored.xgroup_create(stored_key("stream", "beta"), "g", id="0")
    # The owner's own data, so that commands have something to move.
    stored.set(stored_key("mine"), "mine")
    stored.sadd(stored_key("mine-set"), "a1")
    stored.rpush(stored_key("mine-list"), "1", "2")
    return snapshot_outside_alpha()


def snapshot_outside_alpha() -> dict:
    stored = stored_redis()
    return {key: stored.dump(key) for key in stored_keys() if not key.startswith(ALPHA_PREFIX)}


@pytest.mark.parametrize("form", ["single", "pipeline", "multi-exec"])
def test_hostile_commands_stay_in_namespace(owner_key, form):
    before = seed_other_data()
    client = Client()
    bodies = []
    if form == "single":
        for command in HOSTILE_COMMANDS:
            for encoding in ({}, {"HTTP_UPSTASH_ENCODING": "base64"}):
                bodies.append(post(client, BASE, command, owner_key, **encoding).content)
    else:
        for command in HOSTILE_COMMANDS:
            bodies.append(post(client, f"{BASE}/{form}", [["PING"], command], owner_key).content)

    assert snapshot_outside_alpha() == before
    # Key names the client sent come back in some errors; values stored outside alpha never do.
    secret_forms = [BETA_SECRET.encode(), base64.b64encode(BETA_SECRET.encode()), b"global-value"]
    for body in bodies:
        for secret in secret_forms:
            assert secret not in body, body
    # Keys the owner made are inside alpha, whatever their names say.
    for key in stored_keys():
        assert key.startswith(ALPHA_PREFIX) or key in before


def test_refused_commands_say_why(owner_key):
    seed_other_data()
    client = Client()
    for command in (
        ["EVAL", "return 1", "0"],
        ["FLUSHALL"],
        ["SELECT", "1"],
        ["SUBSCRIBE", "x"],
        ["CONFIG", "GET", "*"],
    ):
        response = post(client, BASE, command, owner_key)
        assert response.status_code == 400
        assert response.json()["error"].startswith(f"ERR command '{command[0].lower()}' is not allowed through RedGX")


def test_keys_and_scan_return_names_without_prefix(owner_key):
    seed_other_data()
    client = Client()
    keys = post(client, BASE, ["KEYS", "*"], owner_key).json()["result"]
    assert sorted(keys) == ["mine", "mine-list", "mine-set"]
    cursor, page = post(client, BASE, ["SCAN", "0", "MATCH", "mine*", "COUNT", "1000"], owner_key).json()["result"]
    assert cursor == "0"
    assert sorted(page) == ["mine", "mine-list", "mine-set"]


def test_key_naming_other_namespace_is_own_key(owner_key):
    before = seed_other_data()
    client = Client()
    assert post(client, BASE, ["SET", "ns:beta:secret", "overwritten"], owner_key).json() == {"result": "OK"}
    assert post(client, BASE, ["GET", "ns:beta:secret"], owner_key).json() == {"result": "overwritten"}
    assert stored_redis().get(stored_key("ns:beta:secret")) == b"overwritten"
    assert snapshot_outside_alpha() == before


def write_command_samples() -> list[list[str]]:
    """Build a command of minimal arity for every allowed command that Redis flags as a write."""
    client = data_redis()
    samples = []
    for name in sorted(ALLOWED):
        parts = name.split("|")
        info = command_info(client, name)
        if info is None or not info.writes:
            continue
        samples.append([*parts, *["1"] * (abs(info.arity) - len(parts))])
    return samples


def test_reader_is_refused_every_write_command(reader_key):
    samples = write_command_samples()
    assert len(samples) > 60
    assert ["set", "1", "1"] in samples
    assert ["xreadgroup", "1", "1", "1", "1", "1", "1"] in samples
    client = Client()
    for command in samples:
        response = post(client, BASE, command, reader_key)
        assert response.status_code == 403, (command, response.content)
        assert response.json()["error"].startswith("NOPERM "), command
    for command in samples:
        result = post(client, f"{BASE}/pipeline", [command], reader_key).json()
        assert result[0]["error"].startswith("NOPERM "), command
    response = post(client, f"{BASE}/multi-exec", [["GET", "1"], samples[0]], reader_key)
    assert response.status_code == 403
    assert response.json()["error"].startswith("EXECABORT ")
    assert stored_keys() == []


def test_reader_may_read(reader_key):
    stored_redis().set(stored_key("k"), "v")
    client = Client()
    assert post(client, BASE, ["GET", "k"], reader_key).json() == {"result": "v"}
    response = client.get(f"{BASE}/get/k", HTTP_AUTHORIZATION=f"Bearer {reader_key}")
    assert response.json() == {"result": "v"}


def test_outsider_is_refused_namespace(outsider_key):
    response = post(Client(), BASE, ["GET", "k"], outsider_key)
    assert response.status_code == 403
    assert response.json() == {"error": "NOPERM This API key has no access to namespace 'alpha'."}


def test_missing_or_unknown_token(db):
    client = Client()
    response = client.post(BASE, json.dumps(["GET", "k"]), content_type="application/json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="RedGX"'
    assert "Authorization: Bearer" in response.json()["error"]
    response = post(client, BASE, ["GET", "k"], "rgx_unknown_key")
    assert response.status_code == 401
    assert response.json() == {"error": "Unknown API key."}


def test_token_query_parameter_is_off_by_default(owner_key):
    client = Client()
    response = client.get(f"{BASE}/get/k?_token={owner_key}")
    assert response.status_code == 401
    assert "_token query parameter is disabled" in response.json()["error"]
    with override_settings(REDGX_UPSTASH_ALLOW_TOKEN_PARAM=True):
        response = client.get(f"{BASE}/set/k/v?_token={owner_key}")
    assert response.json() == {"result": "OK"}
    assert stored_redis().get(stored_key("k")) == b"v"


def test_key_check_rejects_unprefixed_movable_key(db):
    # A key-spec reading that missed a key would leave it unprefixed; COMMAND GETKEYS catches it.
    command = PreparedCommand(
        name="zunionstore",
        args=[b"ZUNIONSTORE", ALPHA_PREFIX + b"d", b"2", ALPHA_PREFIX + b"a", stored_key("b", "beta").encode()],
        permission=Permission.WRITE,
        prefix=ALPHA_PREFIX,
        verify_key_count=3,
    )
    with pytest.raises(CommandError, match="could not be confined"):
        confirm_keys(data_redis(), command)
    command.args[4] = ALPHA_PREFIX + b"b"
    confirm_keys(data_redis(), command)
