"""Helpers for tests that run jobs through a real worker process and a fake engine."""

import time

from .conftest import ManagedProcess

EMBED = "/api/v1/ns/alpha/gpu/embed"


def submit(client, body) -> str:
    response = client.post(EMBED, body)
    assert response.status_code == 202, response.content
    return response.json()["data"]["req_id"]


def wait_for_final(client, req_id: str, worker: ManagedProcess, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"{EMBED}/{req_id}")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        if data["status"] in {"done", "failed"}:
            return data
        time.sleep(0.05)
    raise AssertionError(f"job {req_id} did not finish; worker output:\n{worker.output()[-4000:]}")
