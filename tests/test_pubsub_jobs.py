"""Job completions as events on the reserved channel "$jobs", through a real worker."""

import json

import httpx
import pytest

from . import pubsub_support
from .conftest import READ, WRITE, make_key, start_worker
from .engines.fake_tei import FakeTeiEngine
from .pubsub_support import Client, ws_url

web_url = pubsub_support.web_url
ws_port = pubsub_support.ws_port


@pytest.fixture
def engine():
    with FakeTeiEngine() as fake:
        yield fake


def submit(web_url: str, key: str, inputs: list[str]) -> str:
    response = httpx.post(
        f"{web_url}/api/v1/ns/alpha/gpu/embed", json={"inputs": inputs}, headers={"X-API-Key": key}, timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["data"]["req_id"]


def test_job_outcomes_arrive_as_events(ws_port, web_url, engine, transactional_db):
    key = make_key({"alpha": {READ, WRITE}})
    engine.reject_marker = "REJECT"
    client = Client(ws_url(ws_port), key)
    client.subscribe("$jobs")
    worker = start_worker("pubsub-worker", engine.url)
    try:
        done_id = submit(web_url, key, ["A man is playing a guitar."])
        failed_id = submit(web_url, key, ["REJECT this one"])
        events = {}
        # Other test runs may share this Redis and queue, so events of other jobs are skipped.
        while not {done_id, failed_id} <= events.keys():
            frame = client.next_frame(timeout=30)
            assert frame["channel"] == "$jobs", frame
            event = json.loads(frame["data"])
            events[event["req_id"]] = event
    finally:
        worker.stop()

    assert events[done_id] == {"req_id": done_id, "task": "embed", "status": "done"}
    assert events[failed_id]["status"] == "failed"
    assert events[failed_id]["error"]["code"] == "input_rejected"

    response = httpx.get(f"{web_url}/api/v1/ns/alpha/gpu/embed/{done_id}", headers={"X-API-Key": key}, timeout=10)
    assert response.json()["data"]["status"] == "done"
    assert len(response.json()["data"]["vectors"]) == 1
    client.close()
