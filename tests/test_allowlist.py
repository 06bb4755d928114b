"""IP allowlists of keys and namespaces, over REST, the admin API and WebSocket."""

import json
import time

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.tenancy.models import ApiKey, IpAllowlistEntry, Namespace

from . import pubsub_support
from .conftest import READ, WRITE, ApiClient, free_port, make_key, start_web
from .pubsub_support import Client, ws_url

ws_port = pubsub_support.ws_port

KV = "/api/v1/ns/alpha/kv/k"
INSIDE = "10.1.2.3"
OUTSIDE = "127.0.0.1"


def api_key_of(plain_key: str) -> ApiKey:
    return ApiKey.objects.get(digest=ApiKey.digest_of(plain_key))


def allow_for_key(plain_key: str, network: str) -> IpAllowlistEntry:
    return IpAllowlistEntry.objects.create(api_key=api_key_of(plain_key), network=network)


def error_code(response) -> str:
    body = response.json()
    assert body["ok"] is False
    return body["error"]["code"]


def test_key_allowlist_rejects_other_address(db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "10.0.0.0/8")
    response = ApiClient(key).get(KV)
    assert response.status_code == 403
    assert error_code(response) == "address_forbidden"
    assert OUTSIDE in response.json()["error"]["message"]


def test_key_allowlist_admits_its_network(db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "10.0.0.0/8")
    assert ApiClient(key).get(KV, REMOTE_ADDR=INSIDE).status_code == 404


def test_namespace_allowlist_applies_to_every_key(db):
    key = make_key({"alpha": {READ}, "beta": {READ}})
    IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="alpha"), network="10.0.0.0/8")
    client = ApiClient(key)

    response = client.get(KV)
    assert response.status_code == 403
    assert error_code(response) == "address_forbidden"
    assert client.get(KV, REMOTE_ADDR=INSIDE).status_code == 404
    assert client.get("/api/v1/ns/beta/kv/k").status_code == 404


def test_forged_forwarded_for_does_not_bypass(db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "10.0.0.0/8")
    response = ApiClient(key).get(KV, HTTP_X_FORWARDED_FOR=INSIDE)
    assert response.status_code == 403
    assert error_code(response) == "address_forbidden"


@override_settings(REDGX_TRUSTED_PROXIES=["127.0.0.1/32"])
def test_trusted_proxy_forwarded_for_counts(db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "10.0.0.0/8")
    client = ApiClient(key)
    assert client.get(KV, HTTP_X_FORWARDED_FOR=INSIDE).status_code == 404
    assert client.get(KV, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 403


def test_ipv6_network(db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "2001:db8::/32")
    client = ApiClient(key)
    assert client.get(KV, REMOTE_ADDR="2001:db8::5").status_code == 404
    assert client.get(KV, REMOTE_ADDR="2001:db9::5").status_code == 403


def test_admin_api_applies_key_allowlist(db):
    key = make_key({}, is_admin=True)
    allow_for_key(key, "10.0.0.0/8")
    client = ApiClient(key)
    response = client.get("/api/v1/admin/keys")
    assert response.status_code == 403
    assert error_code(response) == "address_forbidden"
    assert client.get("/api/v1/admin/keys", REMOTE_ADDR=INSIDE).status_code == 200


def test_ticket_request_applies_namespace_allowlist(db):
    key = make_key({"alpha": {READ}})
    IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="alpha"), network="10.0.0.0/8")
    response = ApiClient(key).post("/api/v1/ns/alpha/ws-tickets")
    assert response.status_code == 403
    assert error_code(response) == "address_forbidden"


def test_websocket_rejects_address_outside_allowlist(ws_port, transactional_db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "10.0.0.0/8")
    client = Client(ws_url(ws_port), key, expect_welcome=False)
    code, reason, frames = client.close_code()
    assert code == 4403
    assert reason == "address_forbidden"
    assert frames[0]["code"] == "address_forbidden"


def test_websocket_ignores_forged_forwarded_for(ws_port, transactional_db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "10.0.0.0/8")
    headers = {"X-API-Key": key, "X-Forwarded-For": INSIDE}
    with connect(ws_url(ws_port), additional_headers=headers, open_timeout=10) as ws:
        frame = json.loads(ws.recv(timeout=5))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert frame["code"] == "address_forbidden"
    assert closed.value.rcvd.code == 4403


def test_websocket_admits_allowed_address(ws_port, transactional_db):
    key = make_key({"alpha": {READ}})
    allow_for_key(key, "127.0.0.0/8")
    client = Client(ws_url(ws_port), key)
    assert client.welcome["type"] == "connected"
    client.close()


def test_websocket_closed_when_allowlist_excludes_it(ws_port, transactional_db):
    key = make_key({"alpha": {READ}})
    client = Client(ws_url(ws_port), key)
    assert client.welcome["type"] == "connected"

    IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="alpha"), network="10.0.0.0/8")
    code, reason, _frames = client.close_code(timeout=5)
    assert code == 4403
    assert reason == "address_forbidden"


@pytest.fixture
def web(transactional_db):
    port = free_port()
    process = start_web("allowlist-web", port, WEB_CONCURRENCY="2", WEB_THREADS="8")
    yield f"http://127.0.0.1:{port}"
    process.stop()


def get_status(base_url: str, key: str) -> int:
    # A new connection each time, so requests spread over both gunicorn processes.
    return httpx.get(f"{base_url}{KV}", headers={"X-API-Key": key}, timeout=5).status_code


def assert_all_within_a_second(base_url: str, key: str, expected: int, changed_at: float) -> None:
    while get_status(base_url, key) != expected:
        assert time.monotonic() - changed_at < 1.0
    time.sleep(max(0.0, 1.0 - (time.monotonic() - changed_at)))
    assert {get_status(base_url, key) for _ in range(40)} == {expected}


def test_allowlist_change_applies_within_a_second(web):
    key = make_key({"alpha": {READ, WRITE}})
    assert {get_status(web, key) for _ in range(40)} == {404}  # warm in both processes

    entry = allow_for_key(key, "10.0.0.0/8")
    assert_all_within_a_second(web, key, 403, time.monotonic())

    entry.delete()
    assert_all_within_a_second(web, key, 404, time.monotonic())


def test_namespace_allowlist_change_applies_within_a_second(web):
    key = make_key({"alpha": {READ, WRITE}})
    assert {get_status(web, key) for _ in range(40)} == {404}

    IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="alpha"), network="10.0.0.0/8")
    assert_all_within_a_second(web, key, 403, time.monotonic())


def test_revocation_applies_within_a_second(web):
    key = make_key({"alpha": {READ, WRITE}})
    assert {get_status(web, key) for _ in range(40)} == {404}

    api_key = api_key_of(key)
    api_key.revoked_at = timezone.now()
    api_key.save()
    assert_all_within_a_second(web, key, 401, time.monotonic())
