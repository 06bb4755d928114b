"""Access history: rows for REST requests and WebSocket connections, the buffer, and retention."""

import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client as DjangoClient
from django.utils import timezone

from apps.access.buffer import _COPY_FIELDS, AccessBuffer, PendingRecord, flush_now, get_buffer, record_access
from apps.access.models import AccessRecord, Transport
from apps.tenancy.models import ApiKey

from .conftest import READ, WRITE, ApiClient, free_port, make_key, start_web
from .pubsub_support import Client, start_ws, ws_url


def prefix_of(plain_key: str) -> str:
    return ApiKey.objects.get(digest=ApiKey.digest_of(plain_key)).prefix


@pytest.fixture
def empty_buffer():
    """This process's buffer, emptied of rows that earlier tests left."""
    buffer = get_buffer()
    buffer.clear()
    yield buffer
    buffer.clear()


def wait_for_rows(timeout: float = 10, **filters) -> list[AccessRecord]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(AccessRecord.objects.filter(**filters))
        if rows:
            return rows
        time.sleep(0.1)
    return []


def test_rest_request_row(db, empty_buffer):
    key = make_key({"alpha": {READ, WRITE}})
    assert ApiClient(key).put("/api/v1/ns/alpha/kv/greeting", {"value": "hi"}).status_code == 200
    assert AccessRecord.objects.count() == 0  # buffered, not yet written

    assert flush_now() == 1
    row = AccessRecord.objects.get()
    assert row.key_prefix == prefix_of(key)
    assert row.namespace == "alpha"
    assert row.area == "kv"
    assert row.action == "set"
    assert row.status == 200
    assert row.client_address == "127.0.0.1"
    assert row.transport == Transport.REST
    assert row.duration_ms > 0
    assert abs((timezone.now() - row.time).total_seconds()) < 60


def test_rejected_requests_are_recorded(db, empty_buffer):
    ApiClient(None).get("/api/v1/ns/alpha/kv/k")
    ApiClient("rgx_00000000_unknown").get("/api/v1/ns/alpha/kv/k")
    flush_now()
    rows = list(AccessRecord.objects.order_by("time"))
    assert [row.status for row in rows] == [401, 401]
    assert [row.key_prefix for row in rows] == ["", ""]
    assert [row.area for row in rows] == ["kv", "kv"]


def test_revoked_key_row_names_the_key(db, empty_buffer):
    key = make_key({"alpha": {READ}})
    ApiKey.objects.filter(digest=ApiKey.digest_of(key)).update(revoked_at=timezone.now())
    assert ApiClient(key).get("/api/v1/ns/alpha/kv/k").status_code == 401
    flush_now()
    row = AccessRecord.objects.get()
    assert row.status == 401
    assert row.key_prefix == prefix_of(key)


def test_admin_request_row(db, empty_buffer):
    key = make_key({}, is_admin=True)
    assert ApiClient(key).get("/api/v1/admin/keys").status_code == 200
    flush_now()
    row = AccessRecord.objects.get()
    assert row.area == "admin"
    assert row.action == "keys.get"
    assert row.namespace == ""


def test_overlong_namespace_is_cut(db, empty_buffer):
    ApiClient(None).get(f"/api/v1/ns/{'n' * 300}/kv/k")
    flush_now()
    assert AccessRecord.objects.get().namespace == "n" * 63


def test_last_used_address_is_stored(db):
    from apps.tenancy.keycache import flush_key_usage

    key = make_key({"alpha": {READ}})
    ApiClient(key).get("/api/v1/ns/alpha/kv/k", REMOTE_ADDR="192.0.2.44")
    flush_key_usage()
    api_key = ApiKey.objects.get(digest=ApiKey.digest_of(key))
    assert api_key.last_used_ip == "192.0.2.44"
    assert api_key.last_used_at is not None


def make_row(n: int) -> AccessRecord:
    return AccessRecord(
        time=timezone.now(), status=200 + n, duration_ms=1.0, transport=Transport.REST, client_address=None
    )


def test_buffer_drops_oldest_past_max():
    buffer = AccessBuffer(max_rows=3)
    for n in range(5):
        buffer.append(make_row(n))
    assert [row.status for row in buffer.take(10)] == [202, 203, 204]
    assert buffer.dropped_total == 2


def test_buffer_put_back_keeps_order():
    buffer = AccessBuffer(max_rows=4)
    for n in range(3):
        buffer.append(make_row(n))
    taken = buffer.take(2)
    buffer.append(make_row(3))
    buffer.put_back(taken)
    assert [row.status for row in buffer.take(10)] == [200, 201, 202, 203]
    assert buffer.dropped_total == 0


def test_purge_deletes_rows_past_retention(db, settings):
    settings.REDGX_ACCESS_RETENTION_DAYS = 30
    old = AccessRecord.objects.create(
        time=timezone.now() - timedelta(days=31), status=200, duration_ms=1, transport=Transport.REST
    )
    recent = AccessRecord.objects.create(
        time=timezone.now() - timedelta(days=29), status=200, duration_ms=1, transport=Transport.REST
    )

    call_command("purgeaccesshistory", "--dry-run")
    assert AccessRecord.objects.count() == 2

    call_command("purgeaccesshistory")
    assert list(AccessRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AccessRecord.objects.filter(pk=old.pk).exists()


@pytest.fixture
def web(transactional_db):
    port = free_port()
    process = start_web("access-web", port, REDGX_ACCESS_FLUSH_S="0.2")
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_rest_rows_are_written_by_the_server(web):
    key = make_key({"alpha": {READ, WRITE}})
    response = httpx.get(f"{web}/api/v1/ns/alpha/kv/k", headers={"X-API-Key": key}, timeout=5)
    assert response.status_code == 404

    rows = wait_for_rows(key_prefix=prefix_of(key))
    assert len(rows) == 1
    assert rows[0].status == 404
    assert rows[0].action == "get"
    assert rows[0].client_address == "127.0.0.1"


def test_rows_are_flushed_at_exit(transactional_db):
    port = free_port()
    # The interval is longer than the test, so only the flush at exit can write the row.
    process = start_web("access-exit-web", port, REDGX_ACCESS_FLUSH_S="3600", WEB_CONCURRENCY="1")
    key = make_key({"alpha": {READ}})
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/ns/alpha/kv/k", headers={"X-API-Key": key}).status_code == 404
        time.sleep(0.5)
        assert not AccessRecord.objects.filter(key_prefix=prefix_of(key)).exists()
    finally:
        process.stop()
    assert AccessRecord.objects.filter(key_prefix=prefix_of(key), status=404).count() == 1
    assert "Access history flushed at exit: 1 rows" in process.output()


def test_websocket_rows_are_flushed_at_exit(transactional_db):
    port = free_port()
    process = start_ws("access-exit-ws", port, REDGX_ACCESS_FLUSH_S="3600")
    key = make_key({"alpha": {READ}})
    try:
        Client(ws_url(port), key).close()
        # Still open at shutdown: the server closes it, and its row is written after that.
        still_open = Client(ws_url(port), key)
        time.sleep(0.5)
        assert not AccessRecord.objects.filter(key_prefix=prefix_of(key)).exists()
    finally:
        process.stop()
    rows = AccessRecord.objects.filter(key_prefix=prefix_of(key), transport=Transport.WEBSOCKET)
    assert sorted(rows.values_list("status", flat=True)) == [1000, 1012]
    assert still_open.close_code()[0] == 1012


@pytest.fixture
def ws_port(transactional_db):
    port = free_port()
    process = start_ws("access-ws", port, REDGX_ACCESS_FLUSH_S="0.2")
    yield port
    process.stop()


def test_websocket_connection_row(ws_port):
    key = make_key({"alpha": {READ}})
    client = Client(ws_url(ws_port), key)
    assert client.welcome["type"] == "connected"
    client.close()

    rows = wait_for_rows(key_prefix=prefix_of(key))
    assert len(rows) == 1
    row = rows[0]
    assert row.transport == Transport.WEBSOCKET
    assert row.namespace == "alpha"
    assert row.area == "pubsub"
    assert row.action == "connect"
    assert row.status == 1000
    assert row.client_address == "127.0.0.1"


def test_rejected_websocket_row(ws_port):
    key = make_key({"beta": {READ}})
    client = Client(ws_url(ws_port), key, expect_welcome=False)
    assert client.close_code()[0] == 4403

    rows = wait_for_rows(key_prefix=prefix_of(key))
    assert [(row.status, row.transport) for row in rows] == [(4403, Transport.WEBSOCKET)]

    Client(ws_url(ws_port), "rgx_00000000_unknown", expect_welcome=False).close_code()
    assert [row.status for row in wait_for_rows(status=4401)] == [4401]


@pytest.fixture
def auditor(db) -> DjangoClient:
    user = User.objects.create_user("audrey", password="unused", is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    client = DjangoClient()
    client.force_login(user)
    return client


def test_auditor_exports_csv_but_cannot_delete(auditor):
    row = AccessRecord.objects.create(
        time=timezone.now(),
        key_prefix="abcd1234",
        namespace="=alpha",
        area="kv",
        action="get",
        status=200,
        client_address="192.0.2.5",
        duration_ms=1.5,
        transport=Transport.REST,
    )
    changelist = "/admin/access/accessrecord/"
    assert auditor.get(changelist).status_code == 200

    response = auditor.post(changelist, {"action": "export_as_csv", "_selected_action": [row.pk]})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].split(",")[:3] == ["id", "time", "key_prefix"]
    assert "abcd1234" in lines[1]
    assert "'=alpha" in lines[1]  # a formula-like cell is neutralised
    assert "192.0.2.5" in lines[1]

    assert auditor.post(f"{changelist}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert auditor.post(f"{changelist}{row.pk}/change/", {"status": 500}).status_code == 403
    assert AccessRecord.objects.get(pk=row.pk).status == 200


def test_pending_record_matches_copy_columns():
    # COPY writes a PendingRecord as it is, so its fields must be the columns, in order.
    assert PendingRecord._fields == tuple(field.attname for field in _COPY_FIELDS)


def test_long_values_are_cut_to_fit(db, empty_buffer):
    record_access(
        transport=Transport.REST,
        status=200,
        started=time.monotonic(),
        client_address="not an address",
        key_prefix="k" * 40,
        namespace="n" * 100,
        area="a" * 40,
        action="x" * 40,
    )
    assert flush_now() == 1

    row = AccessRecord.objects.get()
    assert row.key_prefix == "k" * 16
    assert row.namespace == "n" * 63
    assert row.area == "a" * 32
    assert row.action == "x" * 32
    assert row.client_address is None
    assert row.transport == Transport.REST
