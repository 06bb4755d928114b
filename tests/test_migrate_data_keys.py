"""The migratedatakeys command: renaming ns:<namespace>:<key> to ns:{<namespace>}:<key>."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from .conftest import stored_key, stored_keys, stored_redis

pytestmark = pytest.mark.skipif(
    settings.REDGX_DATA_REDIS_CLUSTER, reason="migratedatakeys works on a standalone data Redis only"
)


def migrate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("migratedatakeys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def seed_legacy_keys():
    stored = stored_redis()
    stored.set("ns:alpha:greeting", "hello", px=600_000)
    stored.hset("ns:alpha:user:1", "name", "Ada")
    stored.rpush("ns:beta:jobs", "a", "b")
    stored.set("ns:alpha:a\nb", b"\xff\x00")
    # Both names exist: the command must not overwrite the new one.
    stored.set("ns:alpha:clash", "old")
    stored.set(stored_key("clash"), "new")
    # Not data keys of a namespace: another application's key, an invalid namespace name.
    stored.set("global", "g")
    stored.set("ns:Not Valid:x", "x")


def test_dry_run_changes_nothing():
    seed_legacy_keys()
    before = stored_keys()
    out, err = migrate("--dry-run")
    assert "4 keys would be renamed" in out
    assert "ns:alpha:clash" in err
    assert stored_keys() == before


def test_migration_renames_and_keeps_values():
    seed_legacy_keys()
    out, err = migrate("--batch-size", "2")
    assert "Renamed 4 keys." in out
    stored = stored_redis()
    assert stored.get(stored_key("greeting")) == b"hello"
    assert 0 < stored.pttl(stored_key("greeting")) <= 600_000
    assert stored.hgetall(stored_key("user:1")) == {b"name": b"Ada"}
    assert stored.lrange(stored_key("jobs", "beta"), 0, -1) == [b"a", b"b"]
    assert stored.get(stored_key("a\nb")) == b"\xff\x00"
    assert stored.get(stored_key("clash")) == b"new"
    assert stored.get("ns:alpha:clash") == b"old"
    assert "1 keys were left under their old names" in err
    assert stored_keys("ns:alpha:*") == [b"ns:alpha:clash"]
    assert stored.get("global") == b"g"
    assert stored.get("ns:Not Valid:x") == b"x"


def test_migration_runs_twice_safely():
    seed_legacy_keys()
    migrate()
    after_first = {key: stored_redis().dump(key) for key in stored_keys()}
    out, _err = migrate()
    assert "Renamed 0 keys." in out
    assert {key: stored_redis().dump(key) for key in stored_keys()} == after_first


def test_migration_rejects_cluster_mode():
    with override_settings(REDGX_DATA_REDIS_CLUSTER=True), pytest.raises(CommandError, match="standalone"):
        migrate()


def test_migration_rejects_zero_batch_size():
    with pytest.raises(CommandError, match="at least 1"):
        migrate("--batch-size", "0")
