"""``GET /api/v1/admin/clients``: connected WebSocket clients and keys seen recently."""

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.access.models import AccessRecord, Transport
from apps.tenancy.models import ApiKey

from .conftest import READ, ApiClient, free_port, make_key
from .pubsub_support import Client, start_ws, ws_url

CLIENTS = "/api/v1/admin/clients"


@pytest.fixture
def admin(db) -> ApiClient:
    return ApiClient(make_key({}, is_admin=True))


def prefix_of(plain_key: str) -> str:
    return ApiKey.objects.get(digest=ApiKey.digest_of(plain_key)).prefix


def add_row(key_prefix: str, address: str, seconds_ago: float) -> None:
    AccessRecord.objects.create(
        time=timezone.now() - timedelta(seconds=seconds_ago),
        key_prefix=key_prefix,
        namespace="alpha",
        area="kv",
        action="get",
        status=200,
        client_address=address,
        duration_ms=1.0,
        transport=Transport.REST,
    )


def test_key_without_admin_grant_is_403(db):
    response = ApiClient(make_key({"alpha": {READ}})).get(CLIENTS)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_forbidden"


def test_recent_keys_from_access_history(admin, settings):
    settings.REDGX_CLIENTS_RECENT_S = 60
    for seconds_ago in (50, 40, 30):
        add_row("aaaa1111", "192.0.2.1", seconds_ago)
    add_row("aaaa1111", "192.0.2.9", 10)
    add_row("bbbb2222", "198.51.100.7", 20)
    add_row("cccc3333", "203.0.113.3", 120)  # outside the window

    response = admin.get(CLIENTS)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["recent_window_s"] == 60
    assert data["connected"] == []
    recent = {row["key_prefix"]: row for row in data["recent_keys"]}
    assert list(recent) == ["aaaa1111", "bbbb2222"]
    assert recent["aaaa1111"]["requests"] == 4
    assert recent["aaaa1111"]["requests_per_minute"] == 4.0
    assert recent["aaaa1111"]["client_address"] == "192.0.2.9"
    assert recent["bbbb2222"]["requests"] == 1
    assert recent["bbbb2222"]["client_address"] == "198.51.100.7"


@pytest.fixture
def ws_process(transactional_db):
    port = free_port()
    process = start_ws("clients-ws", port, REDGX_WS_CLIENTS_HEARTBEAT_S="0.2")
    yield port, process
    process.stop()


def connected(admin: ApiClient) -> list[dict]:
    response = admin.get(CLIENTS)
    assert response.status_code == 200
    return response.json()["data"]["connected"]


def wait_for(condition, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_connected_clients_are_listed_until_they_leave(ws_process):
    port, _process = ws_process
    admin = ApiClient(make_key({}, is_admin=True))
    key = make_key({"alpha": {READ}})
    client = Client(ws_url(port), key)

    entries = connected(admin)
    assert len(entries) == 1
    assert entries[0]["key_prefix"] == prefix_of(key)
    assert entries[0]["namespace"] == "alpha"
    assert entries[0]["client_address"] == "127.0.0.1"
    assert entries[0]["connected_since"] <= timezone.now().isoformat()

    client.close()
    assert wait_for(lambda: connected(admin) == [])


def test_dead_process_entries_expire(ws_process):
    port, process = ws_process
    admin = ApiClient(make_key({}, is_admin=True))
    Client(ws_url(port), make_key({"alpha": {READ}}))
    assert len(connected(admin)) == 1

    process.kill(signal.SIGKILL)
    # Three missed heartbeats of 0.2 s.
    assert wait_for(lambda: connected(admin) == [])
