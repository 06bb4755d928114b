"""WebSocket authentication: header, tickets, close codes, and keys changed while connected."""

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from apps.tenancy.models import ApiKey, Grant

from . import pubsub_support
from .conftest import READ, ROOT, WRITE, make_key
from .pubsub_support import Client, ws_url

web_url = pubsub_support.web_url
ws_port = pubsub_support.ws_port


@pytest.fixture
def owner(transactional_db) -> str:
    return make_key({"alpha": {READ, WRITE}})


def rejection(url: str, key: str | None = None, **options) -> tuple[int, str, list[dict]]:
    client = Client(url, key, expect_welcome=False, **options)
    return client.close_code()


def request_ticket(web_url: str, key: str, namespace: str = "alpha") -> httpx.Response:
    return httpx.post(f"{web_url}/api/v1/ns/{namespace}/ws-tickets", headers={"X-API-Key": key}, timeout=10)


def test_header_key_opens_connection(ws_port, owner):
    client = Client(ws_url(ws_port), owner)
    assert client.welcome["type"] == "connected"
    assert client.ws.subprotocol is None
    client.close()


@pytest.mark.parametrize(
    ("grants", "close_code", "code"),
    [
        ({"beta": {READ, WRITE}}, 4403, "namespace_forbidden"),
        ({"alpha": {WRITE}}, 4403, "permission_denied"),
    ],
)
def test_forbidden_closes_with_4403(ws_port, transactional_db, grants, close_code, code):
    received_code, reason, frames = rejection(ws_url(ws_port), make_key(grants))
    assert received_code == close_code
    assert reason == code
    assert frames[0]["type"] == "error"
    assert frames[0]["code"] == code


def test_missing_and_unknown_keys_close_with_4401(ws_port, transactional_db):
    assert rejection(ws_url(ws_port))[:2] == (4401, "not_authenticated")
    assert rejection(ws_url(ws_port), "rgx_00000000_unknown")[:2] == (4401, "authentication_failed")
    assert rejection(ws_url(ws_port), "x" * 500)[:2] == (4401, "authentication_failed")

    revoked = make_key({"alpha": {READ}})
    ApiKey.objects.filter(digest=ApiKey.digest_of(revoked)).update(revoked_at=timezone.now())
    assert rejection(ws_url(ws_port), revoked)[:2] == (4401, "key_revoked")
    expired = make_key({"alpha": {READ}}, expires_at=timezone.now() - timedelta(seconds=1))
    assert rejection(ws_url(ws_port), expired)[:2] == (4401, "key_expired")


def test_unknown_path_closes_with_4404(ws_port, owner):
    code, reason, frames = rejection(f"ws://127.0.0.1:{ws_port}/ws/v1/ns/alpha/other", owner)
    assert (code, reason) == (4404, "route_not_found")
    assert frames[0]["code"] == "route_not_found"


def test_ticket_opens_connection_once(ws_port, web_url, owner):
    response = request_ticket(web_url, owner)
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    data = response.json()["data"]
    assert data["path"] == "/ws/v1/ns/alpha/pubsub"
    assert data["expires_in_s"] == 30
    assert data["subprotocols"] == ["redgx.v1", f"redgx.ticket.{data['ticket']}"]

    # As a browser would: no headers, the ticket among the offered subprotocols.
    client = Client(ws_url(ws_port), subprotocols=data["subprotocols"])
    assert client.ws.subprotocol == "redgx.v1"
    assert client.welcome["type"] == "connected"
    client.subscribe("news")
    client.close()

    code, reason, frames = rejection(ws_url(ws_port), subprotocols=data["subprotocols"])
    assert (code, reason) == (4401, "invalid_ticket")
    assert frames[0]["code"] == "invalid_ticket"


def test_ticket_works_only_in_its_namespace(ws_port, web_url, transactional_db):
    key = make_key({"alpha": {READ}, "beta": {READ}})
    ticket = request_ticket(web_url, key).json()["data"]["ticket"]
    code, reason, _ = rejection(ws_url(ws_port, "beta"), subprotocols=["redgx.v1", f"redgx.ticket.{ticket}"])
    assert (code, reason) == (4403, "ticket_namespace_mismatch")
    # The failed attempt used the ticket up.
    code, reason, _ = rejection(ws_url(ws_port), subprotocols=["redgx.v1", f"redgx.ticket.{ticket}"])
    assert (code, reason) == (4401, "invalid_ticket")


def test_ticket_needs_read_permission(web_url, transactional_db):
    assert request_ticket(web_url, make_key({"alpha": {WRITE}})).status_code == 403
    assert request_ticket(web_url, make_key({"beta": {READ}})).status_code == 403
    response = httpx.post(f"{web_url}/api/v1/ns/alpha/ws-tickets", timeout=10)
    assert response.status_code == 401


def test_revoked_key_is_disconnected(ws_port, owner):
    client = Client(ws_url(ws_port), owner)
    client.subscribe("news")

    api_key = ApiKey.objects.get(digest=ApiKey.digest_of(owner))
    api_key.revoked_at = timezone.now()
    api_key.save()
    revoked_at = time.monotonic()

    code, reason, _ = client.close_code(timeout=10)
    assert (code, reason) == (4410, "key_revoked")
    assert time.monotonic() - revoked_at < 2


def test_ticket_connection_is_disconnected_on_revocation(ws_port, web_url, owner):
    ticket = request_ticket(web_url, owner).json()["data"]["subprotocols"]
    client = Client(ws_url(ws_port), subprotocols=ticket)

    ApiKey.objects.get(digest=ApiKey.digest_of(owner)).delete()

    assert client.close_code(timeout=5)[:2] == (4410, "key_revoked")


def test_lost_read_grant_disconnects_with_4403(ws_port, owner):
    client = Client(ws_url(ws_port), owner)
    grant = Grant.objects.get(api_key__digest=ApiKey.digest_of(owner))
    grant.can_read = False
    grant.save()

    assert client.close_code(timeout=5)[:2] == (4403, "permission_denied")


def test_key_expiring_while_connected_is_disconnected(ws_port, transactional_db):
    key = make_key({"alpha": {READ}}, expires_at=timezone.now() + timedelta(seconds=2))
    client = Client(ws_url(ws_port), key)

    code, reason, _ = client.close_code(timeout=6)
    assert (code, reason) == (4410, "key_expired")


def test_keys_and_tickets_stay_out_of_server_logs(ws_port, web_url, owner):
    subprotocols = request_ticket(web_url, owner).json()["data"]["subprotocols"]
    Client(ws_url(ws_port), subprotocols=subprotocols).close()
    Client(ws_url(ws_port), owner).close()
    rejection(ws_url(ws_port), subprotocols=subprotocols)

    log = (ROOT / "test-artifacts" / "ws.log").read_text()
    assert owner not in log
    assert subprotocols[1].removeprefix("redgx.ticket.") not in log
