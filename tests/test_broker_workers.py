"""The broker through real Dramatiq worker processes, real Redis and a fake TEI engine on loopback."""

import signal
import time

import pytest

from apps.inference import jobs, queues

from .broker_support import submit_embed, wait_final, wait_until
from .conftest import free_port, start_worker
from .engines.fake_tei import FakeTeiEngine, fake_embedding

# Short leases: a 3 s read timeout plus the 2 s test margin.
SHORT_LEASE = {"REDGX_EMBED_TIMEOUT_S": "3"}


@pytest.fixture
def engine():
    with FakeTeiEngine() as fake:
        yield fake


@pytest.fixture
def workers():
    """Start workers through this list; each is stopped at the end of the test."""
    started = []

    def start(name: str, engine_url: str, **overrides: str):
        process = start_worker(name, engine_url, **overrides)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill(signal.SIGCONT)
        process.stop()


def test_thousand_inputs_in_order(db, engine, workers):
    worker = workers("broker-thousand", engine.url)
    texts = [f"sentence number {n}" for n in range(1000)]
    req_id = submit_embed("alpha", texts)
    job = wait_final(req_id, worker, timeout=60)
    assert job.status == jobs.JobStatus.DONE, job.error
    assert job.result["vectors"] == [fake_embedding(text) for text in texts]
    assert job.result["dimensions"] == 384
    assert sum(engine.calls) == 1000
    assert max(engine.calls) == 32
    assert job.queued_ms is not None
    assert job.batch_wait_ms is not None
    assert job.engine_ms > 0


def test_bad_input_fails_alone_in_shared_batch(db, engine, workers):
    worker = workers("broker-bad-input", engine.url, REDGX_EMBED_MAX_WAIT_MS="500")
    # Hold the first call so the next 20 jobs gather into one batch behind it.
    engine.latency_s = 1.0
    opener = submit_embed("alpha", ["opener"])
    wait_until(lambda: engine.calls, 15, "the first engine call", worker)
    too_long = " ".join(["word"] * 400)
    texts = [f"fine {n}" for n in range(19)]
    texts.insert(7, too_long)
    req_ids = [submit_embed("alpha", [text]) for text in texts]
    engine.latency_s = 0
    finished = [wait_final(req_id, worker) for req_id in req_ids]

    bad = finished[7]
    assert bad.status == jobs.JobStatus.FAILED
    assert bad.error["code"] == "input_too_long"
    assert bad.attempts == 1
    good = finished[:7] + finished[8:]
    assert [job.status for job in good] == [jobs.JobStatus.DONE] * 19
    for job, text in zip(good, texts[:7] + texts[8:], strict=True):
        assert job.result["vectors"] == [fake_embedding(text)]
    assert wait_final(opener, worker).status == jobs.JobStatus.DONE
    # The 20 jobs went out together at least once before the split.
    assert max(engine.calls[1:]) > 1


def test_killed_worker_jobs_done_exactly_once(db, engine, workers):
    engine.latency_s = 30
    first = workers("broker-killed", engine.url, **SHORT_LEASE)
    req_ids = [submit_embed("alpha", [f"job {n}"]) for n in range(10)]
    wait_until(lambda: sum(engine.calls) == 10, 15, "all jobs in engine calls", first)
    first.kill()
    first.stop()

    engine.latency_s = 0
    second = workers("broker-recovery", engine.url, **SHORT_LEASE)
    finished = [wait_final(req_id, second, timeout=30) for req_id in req_ids]
    assert [job.status for job in finished] == [jobs.JobStatus.DONE] * 10
    for n, job in enumerate(finished):
        assert job.result["vectors"] == [fake_embedding(f"job {n}")]
        assert job.deliveries == 2
        assert job.attempts == 1
    # One final write per job: nothing ran twice into the outbox.
    assert queues.finished_count() == 10
    assert "lost its lease" in second.output()


def test_stuck_worker_result_is_fenced(db, engine, workers):
    """A worker frozen mid-call (SIGSTOP) keeps its process alive but loses the job to another."""
    engine.latency_s = 1.0
    stuck = workers("broker-stuck", engine.url, **SHORT_LEASE)
    req_id = submit_embed("alpha", ["stuck"])
    wait_until(lambda: engine.calls, 15, "the engine call", stuck)
    stuck.kill(signal.SIGSTOP)

    rescuer = workers("broker-rescuer", engine.url, **SHORT_LEASE)
    job = wait_final(req_id, rescuer, timeout=30)
    assert job.status == jobs.JobStatus.DONE
    assert job.deliveries == 2
    assert job.result["vectors"] == [fake_embedding("stuck")]

    # The frozen worker resumes and receives the engine's response to its abandoned call.
    stuck.kill(signal.SIGCONT)
    wait_until(lambda: "Discarded the result of job" in stuck.output(), 15, "the late result to be fenced", stuck)
    assert jobs.get_job(req_id).result == job.result
    assert queues.finished_count() == 1


def test_trickling_engine_call_loses_lease(db, engine, workers):
    """An engine call that receives a byte at a time beats every read timeout, so its lease runs out.

    The job is taken again and finishes; the trickled answer arrives late and is discarded.
    """
    engine.trickle_next(12.0)
    first = workers("broker-trickle", engine.url, **SHORT_LEASE)
    req_id = submit_embed("alpha", ["trickled"])
    wait_until(lambda: engine.calls, 15, "the trickling engine call", first)
    rescuer = workers("broker-trickle-rescuer", engine.url, **SHORT_LEASE)

    job = wait_final(req_id, rescuer, timeout=30)
    assert job.status == jobs.JobStatus.DONE
    assert job.deliveries == 2
    assert job.result["vectors"] == [fake_embedding("trickled")]
    assert len(engine.calls) == 2

    def fenced() -> bool:
        return "Discarded the result of job" in first.output() + rescuer.output()

    wait_until(fenced, 20, "the trickled result to be fenced", first)
    assert jobs.get_job(req_id).result == job.result
    assert queues.finished_count() == 1


def test_engine_503_for_30_seconds_then_all_done(db, engine, workers):
    outage = {"REDGX_ENGINE_FAILURE_THRESHOLD": "2", "REDGX_JOB_MAX_ATTEMPTS": "3"}
    worker = workers("broker-outage", engine.url, **outage)
    engine.fail_next(503, count=100_000)
    engine.healthy = False
    req_ids = [submit_embed("alpha", [f"patient {n}"]) for n in range(10)]
    time.sleep(30)
    calls_during_outage = len(engine.calls)
    assert [jobs.get_job(req_id).status for req_id in req_ids].count(jobs.JobStatus.FAILED) == 0

    engine.reset()
    finished = [wait_final(req_id, worker, timeout=30) for req_id in req_ids]
    assert [job.status for job in finished] == [jobs.JobStatus.DONE] * 10
    assert all(job.attempts <= 3 for job in finished)
    for n, job in enumerate(finished):
        assert job.result["vectors"] == [fake_embedding(f"patient {n}")]
    # The open circuit kept jobs off the engine: a handful of calls before it opened, not one per retry.
    assert calls_during_outage <= 10
    assert "Circuit of engine default-embed opened" in worker.output()
    assert "Circuit of engine default-embed closed" in worker.output()


def test_down_engine_fails_jobs_by_deadline(db, workers):
    down = {"REDGX_ENGINE_FAILURE_THRESHOLD": "2", "REDGX_JOB_MAX_ATTEMPTS": "50"}
    worker = workers("broker-down", f"http://127.0.0.1:{free_port()}", **down)
    deadline_at = time.time() + 3
    req_ids = [submit_embed("alpha", [f"doomed {n}"], deadline_at=deadline_at) for n in range(5)]
    finished = [wait_final(req_id, worker, timeout=15) for req_id in req_ids]
    for job in finished:
        assert job.status == jobs.JobStatus.FAILED
        assert job.error["code"] == "expired"
        assert "deadline" in job.error["message"]
        assert job.finished_at >= deadline_at
        # The sweeper runs every 0.25 s in tests; one second covers it on a loaded machine.
        assert job.finished_at < deadline_at + 1


def test_flooding_namespace_does_not_starve_another(db, engine, workers):
    flood = [submit_embed("alpha", [f"flood {n}"]) for n in range(300)]
    others = [submit_embed("beta", [f"other {n}"]) for n in range(5)]
    worker = workers("broker-fair", engine.url, REDGX_EMBED_BATCH_SIZE="8")
    finished = [wait_final(req_id, worker, timeout=60) for req_id in flood + others]
    assert all(job.status == jobs.JobStatus.DONE for job in finished)
    order = sorted(finished, key=lambda job: job.finished_at)
    ranks = [order.index(job) for job in finished[300:]]
    # Namespaces take turns, so beta's five jobs are among the first ten taken and finish
    # in the first few batches. First come, first served would put them after all 300.
    assert max(ranks) < 60, ranks


def test_cancel_processing_job_discards_result(db, engine, workers):
    engine.latency_s = 1.5
    worker = workers("broker-cancel", engine.url)
    req_id = submit_embed("alpha", ["cancel me"])
    wait_until(lambda: engine.calls, 15, "the engine call", worker)
    assert jobs.cancel_job(req_id) == "cancelled"
    wait_until(lambda: "Discarded the result of job" in worker.output(), 15, "the result to be discarded", worker)
    job = jobs.get_job(req_id)
    assert job.status == jobs.JobStatus.FAILED
    assert job.error["code"] == "cancelled"
    assert job.result is None


def test_cancel_stops_a_call_between_requests(db, engine, workers):
    """A job whose inputs need 8 engine requests is cancelled during the first: the rest are not sent."""
    engine.latency_s = 1.0
    worker = workers("broker-cancel-chunks", engine.url)
    req_id = submit_embed("alpha", [f"sentence {n}" for n in range(256)])
    wait_until(lambda: engine.calls, 15, "the first engine request", worker)
    assert jobs.cancel_job(req_id) == "cancelled"
    wait_until(lambda: "none of its jobs is held any more" in worker.output(), 15, "the call to stop", worker)
    assert engine.calls == [32]
    assert jobs.get_job(req_id).error["code"] == "cancelled"


def test_cancel_job_waiting_in_batcher_is_never_sent(db, engine, workers):
    engine.latency_s = 2.0
    worker = workers("broker-cancel-waiting", engine.url, REDGX_EMBED_MAX_CONCURRENT_CALLS="1")
    busy = submit_embed("alpha", ["keeps the engine busy"])
    wait_until(lambda: engine.calls, 15, "the first engine call", worker)
    waiting = submit_embed("alpha", ["never sent"])
    wait_until(
        lambda: jobs.get_job(waiting).status == jobs.JobStatus.PROCESSING, 10, "the second job to be taken", worker
    )
    assert jobs.cancel_job(waiting) == "cancelled"
    assert wait_final(busy, worker).status == jobs.JobStatus.DONE
    wait_until(lambda: "cancelled or taken over before its engine call" in worker.output(), 10, "the skip", worker)
    assert engine.calls == [1]
    assert jobs.get_job(waiting).error["code"] == "cancelled"


def test_job_that_kills_workers_fails_after_max_deliveries(db, engine, workers):
    engine.latency_s = 30
    limits = {**SHORT_LEASE, "REDGX_JOB_MAX_DELIVERIES": "3"}
    req_id = submit_embed("alpha", ["poison"])
    for delivery in (1, 2, 3):
        worker = workers(f"broker-poison-{delivery}", engine.url, **limits)
        wait_until(lambda delivery=delivery: len(engine.calls) == delivery, 20, f"delivery {delivery}", worker)
        worker.kill()
        worker.stop()

    survivor = workers("broker-poison-survivor", engine.url, **limits)
    job = wait_final(req_id, survivor, timeout=20)
    assert job.status == jobs.JobStatus.FAILED
    assert job.error["code"] == "delivery_limit"
    assert "3 workers" in job.error["message"]
    assert job.deliveries == 3
    assert len(engine.calls) == 3


def test_deadline_passing_in_batcher_is_not_sent(db, engine, workers):
    engine.latency_s = 2.0
    worker = workers("broker-deadline-waiting", engine.url, REDGX_EMBED_MAX_CONCURRENT_CALLS="1")
    busy = submit_embed("alpha", ["keeps the engine busy"])
    wait_until(lambda: engine.calls, 15, "the first engine call", worker)
    late = submit_embed("alpha", ["too late"], deadline_at=time.time() + 0.5)
    job = wait_final(late, worker)
    assert job.status == jobs.JobStatus.FAILED
    assert job.error["code"] == "expired"
    assert wait_final(busy, worker).status == jobs.JobStatus.DONE
    assert engine.calls == [1]
