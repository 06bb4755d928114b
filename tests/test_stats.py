"""Inference counters in the real inference Redis, with the stats clock set to chosen instants."""

import threading

import pytest
import redis
from django.conf import settings

from apps.core.redis import inference_redis
from apps.inference import stats

from .conftest import free_port

# A bucket boundary, so each test can name the bucket that its counts go to.
T0 = 1_800_000_000.0
assert T0 % stats.BUCKET_S == 0


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr(stats, "clock", fake)
    return fake


def test_rates_per_task_and_namespace(clock):
    for _ in range(6):
        stats.record_outcome("embed", "shop", "done")
    stats.record_outcome("embed", "shop", "failed")
    for _ in range(3):
        stats.record_outcome("embed", "blog", "done")
    stats.record_outcome("ocr", "blog", "done")

    # The 60 s window ending at T0 + 4 starts with the bucket at T0 - 55, so it covers 59 s.
    clock.now = T0 + 4
    result = stats.rates(60)

    assert result["tasks"]["embed"]["done"] == pytest.approx(9 / 59)
    assert result["tasks"]["embed"]["failed"] == pytest.approx(1 / 59)
    assert result["tasks"]["ocr"] == {"done": pytest.approx(1 / 59)}
    assert result["namespaces"]["embed"]["shop"] == {"done": pytest.approx(6 / 59), "failed": pytest.approx(1 / 59)}
    assert result["namespaces"]["embed"]["blog"] == {"done": pytest.approx(3 / 59)}


def test_rates_window_drops_old_buckets(clock):
    stats.record_outcome("embed", "shop", "done")
    clock.now = T0 + 30
    stats.record_outcome("embed", "shop", "done")
    stats.record_outcome("embed", "shop", "done")

    # The window ending at T0 + 62 starts with the bucket at T0 + 5, so the count at T0 is out.
    clock.now = T0 + 62
    assert stats.rates(60)["tasks"]["embed"]["done"] == pytest.approx(2 / 57)
    # The window ending at T0 + 2 ends before the bucket at T0 + 30.
    clock.now = T0 + 2
    assert stats.rates(60)["tasks"]["embed"]["done"] == pytest.approx(1 / 57)


def test_rates_empty_when_nothing_recorded(clock):
    assert stats.rates(60) == {"tasks": {}, "namespaces": {}}
    assert stats.drain_rate("embed") == 0.0
    assert stats.batch_sizes(60) == {}
    assert stats.rejections(60) == {}


def test_drain_rate_counts_final_jobs_of_task(clock):
    for _ in range(20):
        stats.record_outcome("embed", "shop", "done")
    for _ in range(4):
        stats.record_outcome("embed", "blog", "failed")
    for _ in range(50):
        stats.record_outcome("generate", "shop", "done")

    clock.now = T0 + 3
    assert stats.drain_rate("embed") == pytest.approx(24 / 58)
    assert stats.drain_rate("generate") == pytest.approx(50 / 58)
    assert stats.drain_rate("stt") == 0.0


def test_batch_sizes_per_engine(clock):
    stats.record_batch("tei-main", 32, 40.0)
    stats.record_batch("tei-main", 8, 20.0)
    clock.now = T0 + 10
    stats.record_batch("tei-main", 20, 30.0)
    stats.record_batch("vllm|a", 1, 900.5)

    result = stats.batch_sizes(60)

    assert result["tei-main"] == {"batches": 3, "items": 60, "mean_size": 20.0, "max_size": 32, "mean_engine_ms": 30.0}
    assert result["vllm|a"] == {"batches": 1, "items": 1, "mean_size": 1.0, "max_size": 1, "mean_engine_ms": 900.5}


def test_rejections_per_kind_and_namespace(clock):
    for _ in range(5):
        stats.record_rejection("queue_full", "shop")
    stats.record_rejection("rate_limited", "blog")
    stats.record_rejection("inference_redis_full", None)

    # At a bucket boundary the window covers 55 s: T0 - 50 .. T0 + 5.
    clock.now = T0 + 5
    result = stats.rejections(60)

    assert result["queue_full"] == {"shop": pytest.approx(5 / 55)}
    assert result["rate_limited"] == {"blog": pytest.approx(1 / 55)}
    assert result["inference_redis_full"] == {"": pytest.approx(1 / 55)}


def test_window_shorter_than_bucket_rejected(clock):
    with pytest.raises(ValueError, match="window_s must be at least 5 s"):
        stats.rates(1)


def test_series_one_value_per_bucket(clock):
    stats.record_outcome("embed", "shop", "done")
    stats.record_outcome("embed", "blog", "done")
    stats.record_batch("tei-main", 4, 10.0)
    stats.record_batch("tei-main", 2, 10.0)
    stats.record_queue_depths({"embed": 7})
    clock.now = T0 + 10
    stats.record_outcome("embed", "shop", "failed")
    stats.record_rejection("queue_full", "shop")
    stats.record_queue_depths({"embed": 3, "ocr": 1})
    stats.record_queue_depths({"embed": 2, "ocr": 1})
    clock.now = T0 + 15
    # Counts of the bucket still filling read as None, its depth sample as stored.
    stats.record_outcome("embed", "shop", "done")
    stats.record_queue_depths({"embed": 9})

    clock.now = T0 + 17
    result = stats.series(1)

    assert result["bucket_s"] == 5
    assert len(result["t"]) == 12
    assert result["t"][-4:] == [T0, T0 + 5, T0 + 10, T0 + 15]
    assert result["throughput"]["embed"]["done"][-4:] == [0.4, 0.0, 0.0, None]
    assert result["throughput"]["embed"]["failed"][-4:] == [0.0, 0.0, 0.2, None]
    assert result["batch_size"]["tei-main"][-4:] == [3.0, None, None, None]
    assert result["rejections"]["queue_full"][-4:] == [0.0, 0.0, 0.2, None]
    assert result["queue_depth"]["embed"][-4:] == [7, None, 2, 9]
    assert result["queue_depth"]["ocr"][-4:] == [None, None, 1, None]
    assert all(value is None for value in result["queue_depth"]["embed"][:-4])
    assert all(len(values) == 12 for values in result["throughput"]["embed"].values())


def test_counter_keys_expire_after_retention(clock):
    stats.record_outcome("embed", "shop", "done")
    stats.record_batch("tei-main", 4, 10.0)
    stats.record_rejection("queue_full", "shop")
    stats.record_queue_depths({"embed": 1})

    keys = sorted(key.decode() for key in inference_redis().keys("redgx:stats:*"))
    bucket = int(T0 // stats.BUCKET_S)
    assert keys == [f"redgx:stats:{kind}:{bucket}" for kind in ("batch", "batch_max", "depth", "outcome", "rejection")]
    for key in keys:
        ttl = inference_redis().ttl(key)
        assert settings.REDGX_STATS_RETENTION_S <= ttl <= settings.REDGX_STATS_RETENTION_S + stats.BUCKET_S


def test_concurrent_writers_lose_no_count(clock):
    def write() -> None:
        for _ in range(200):
            stats.record_outcome("embed", "shop", "done")

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = inference_redis().hget(f"redgx:stats:outcome:{int(T0 // stats.BUCKET_S)}", '["embed","shop","done"]')
    assert int(stored) == 1600


def test_writes_survive_unreachable_redis(clock, monkeypatch, caplog):
    # A real client of a loopback port that nothing listens on.
    unreachable = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(stats, "inference_redis", lambda: unreachable)
    monkeypatch.setattr(stats, "_last_write_warning", 0.0)

    stats.record_outcome("embed", "shop", "done")
    stats.record_batch("tei-main", 4, 10.0)
    stats.record_rejection("queue_full", "shop")

    warnings = [record for record in caplog.records if record.name == "apps.inference.stats"]
    assert len(warnings) == 1
    assert "Could not write inference counters" in warnings[0].getMessage()
