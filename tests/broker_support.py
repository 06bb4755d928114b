"""Helpers for broker tests: embed jobs created directly, and waits bounded in time."""

import time

from apps.inference import jobs

from .conftest import ManagedProcess


def embed_payload(texts: list[str]) -> dict:
    return {"inputs": texts, "normalize": True, "truncate": False}


def submit_embed(namespace: str, texts: list[str], **kwargs) -> str:
    return jobs.create_job(namespace, "embed", embed_payload(texts), **kwargs)


def wait_until(condition, timeout: float, description: str, worker: ManagedProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    output = worker.output()[-4000:] if worker else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {description}\n{output}")


def wait_final(req_id: str, worker: ManagedProcess | None, timeout: float = 20) -> jobs.Job:
    def is_final() -> bool:
        job = jobs.get_job(req_id)
        return job is not None and job.status in jobs.FINAL_STATUSES

    wait_until(is_final, timeout, f"job {req_id} to finish", worker)
    return jobs.get_job(req_id)
