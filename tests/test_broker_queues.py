"""The Redis side of the broker without a worker: fair order, leases, fencing, cancel, retries."""

import time

import pytest

from apps.inference import jobs, queues

from .broker_support import embed_payload, submit_embed


def take(task: str = "embed", lease_s: float = 30) -> tuple[str | None, str]:
    req_id, token, _expired = queues.take(task, lease_s)
    return req_id, token


def test_take_rotates_over_namespaces(db):
    flood = [submit_embed("alpha", [f"a{n}"]) for n in range(3)]
    other = submit_embed("beta", ["b0"])
    taken = [take()[0] for _ in range(4)]
    assert taken == [flood[0], other, flood[1], flood[2]]
    assert take()[0] is None


def test_take_leases_the_job(db):
    req_id = submit_embed("alpha", ["x"])
    taken, _token = take(lease_s=30)
    assert taken == req_id
    job = jobs.get_job(req_id)
    assert job.status == jobs.JobStatus.PROCESSING
    assert job.deliveries == 1
    assert job.attempts == 1
    assert queues.queue_depth("embed") == 0
    assert queues.inference_redis().zscore(queues.leases_key("embed"), req_id) > time.time() + 25


def test_stale_token_cannot_finish(db):
    req_id = submit_embed("alpha", ["x"])
    _taken, token = take()
    assert jobs.complete_job(req_id, {"vectors": [[1.0]]}, token="0" * 32) is False
    assert jobs.fail_job(req_id, "late", "a late failure", token="0" * 32) is False
    assert jobs.get_job(req_id).status == jobs.JobStatus.PROCESSING
    assert jobs.complete_job(req_id, {"vectors": [[2.0]]}, token=token) is True
    assert jobs.complete_job(req_id, {"vectors": [[3.0]]}, token=token) is False
    job = jobs.get_job(req_id)
    assert job.result == {"vectors": [[2.0]]}
    assert queues.finished_count() == 1


def test_expired_lease_requeues_at_head(db):
    first = submit_embed("alpha", ["first"])
    second = submit_embed("alpha", ["second"])
    _taken, old_token = take(lease_s=0.01)
    time.sleep(0.05)
    requeued, over = queues.requeue_expired("embed", max_lost=3)
    assert requeued == [first]
    assert over == []
    assert jobs.get_job(first).status == jobs.JobStatus.QUEUED
    # Back at the head: taken again before the job queued after it.
    taken, new_token = take()
    assert taken == first
    assert jobs.get_job(first).deliveries == 2
    assert jobs.complete_job(first, {"vectors": []}, token=old_token) is False
    assert jobs.complete_job(first, {"vectors": []}, token=new_token) is True
    assert take()[0] == second


def test_lease_expiring_max_times_is_reported(db):
    req_id = submit_embed("alpha", ["poison"])
    take(lease_s=0.01)
    time.sleep(0.05)
    assert queues.requeue_expired("embed", max_lost=2) == ([req_id], [])
    take(lease_s=0.01)
    time.sleep(0.05)
    assert queues.requeue_expired("embed", max_lost=2) == ([], [req_id])
    # The caller fails it; until then it is neither queued nor leased by anyone.
    assert jobs.get_job(req_id).status == jobs.JobStatus.PROCESSING
    assert queues.queue_depth("embed") == 0


def test_retry_spends_attempts_until_the_limit(db):
    req_id = submit_embed("alpha", ["flaky"])
    for attempt in (1, 2):
        taken, token = take()
        assert taken == req_id
        assert jobs.get_job(req_id).attempts == attempt
        assert queues.retry_later(req_id, token, time.time() - 1, 3, "{}") == 1
        assert jobs.get_job(req_id).status == jobs.JobStatus.QUEUED
    taken, token = take()
    assert jobs.get_job(req_id).attempts == 3
    assert queues.retry_later(req_id, token, time.time(), 3, "{}") == 0
    assert queues.retry_later(req_id, "0" * 32, time.time(), 3, "{}") == -1


def test_release_spends_no_delivery(db):
    req_id = submit_embed("alpha", ["x"])
    _taken, token = take()
    assert queues.release(req_id, token) is True
    job = jobs.get_job(req_id)
    assert job.status == jobs.JobStatus.QUEUED
    assert job.deliveries == 0
    assert queues.queue_depth("embed", "alpha") == 1


def test_cancel_queued_job(db):
    req_id = submit_embed("alpha", ["x"])
    assert jobs.cancel_job(req_id) == "cancelled"
    job = jobs.get_job(req_id)
    assert job.status == jobs.JobStatus.FAILED
    assert job.error["code"] == "cancelled"
    assert queues.queue_depth("embed") == 0
    assert queues.inference_redis().llen(queues.ring_key("embed")) == 0
    assert take()[0] is None


def test_cancel_processing_job_fences_its_result(db):
    req_id = submit_embed("alpha", ["x"])
    _taken, token = take()
    assert jobs.cancel_job(req_id) == "cancelled"
    assert jobs.complete_job(req_id, {"vectors": [[1.0]]}, token=token) is False
    assert queues.extend_leases([(req_id, token)], time.time() + 10) == [False]
    assert jobs.get_job(req_id).error["code"] == "cancelled"


def test_cancel_final_job_drops_result(db):
    req_id = submit_embed("alpha", ["x"])
    _taken, token = take()
    jobs.complete_job(req_id, {"vectors": [[1.0]]}, token=token)
    assert jobs.cancel_job(req_id, drop_result=False) == "final"
    assert jobs.cancel_job(req_id) == "dropped"
    assert jobs.get_job(req_id) is None
    assert jobs.cancel_job(req_id) is None


def test_take_skips_and_reports_expired_jobs(db):
    late = submit_embed("alpha", ["late"], deadline_at=time.time() - 1)
    fresh = submit_embed("alpha", ["fresh"])
    taken, _token, expired = queues.take("embed", 30)
    assert taken == fresh
    assert expired == [late]


def test_deadline_sweep_returns_queued_jobs_past_deadline(db):
    late = submit_embed("alpha", ["late"], deadline_at=time.time() + 0.05)
    time.sleep(0.1)
    assert queues.due_deadlines() == [late]
    assert queues.queue_depth("embed") == 0


@pytest.mark.parametrize("namespace", [None, "alpha"])
def test_queue_depth_counts_queued_jobs(db, namespace):
    for n in range(3):
        submit_embed("alpha", [f"a{n}"])
    submit_embed("beta", ["b"])
    assert queues.queue_depth("embed", namespace) == (4 if namespace is None else 3)


def test_create_job_stores_deadline_and_payload(db, settings):
    settings.REDGX_JOB_DEFAULT_DEADLINE_S = 60
    req_id = submit_embed("alpha", ["x"])
    job = jobs.get_job(req_id)
    assert job.payload == embed_payload(["x"])
    assert job.status == jobs.JobStatus.QUEUED
    assert 55 < job.deadline_at - job.created_at <= 60
