"""The API fast path: no browser middleware, JSON without Accept parsing, reused serializer fields."""

import threading

import pytest
from django.test import Client

from apps.api.fields import StrictIntegerField, StrictSerializer

KV = "/api/v1/ns/alpha/kv/item"


def test_api_request_sets_no_browser_cookies(owner):
    owner.put(KV, {"value": "x"})
    response = owner.get(KV, HTTP_COOKIE="sessionid=stale; csrftoken=stale")

    assert response.status_code == 200
    assert response.json()["data"]["value"] == "x"
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_api_request_has_no_session(owner):
    response = owner.get(KV)

    assert response.status_code == 404
    assert not hasattr(response.wsgi_request, "session")
    # DRF sets request.user to the API key, not to a Django user.
    assert response.wsgi_request.user.prefix


def test_api_write_needs_no_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    response = client.put(KV, '{"value": "y"}', content_type="application/json", HTTP_X_API_KEY=owner.key)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"key": "item", "written": True}}


def test_admin_login_keeps_session_and_csrf(db):
    client = Client(enforce_csrf_checks=True)
    login_page = client.get("/admin/login/")

    assert login_page.status_code == 200
    assert client.cookies["csrftoken"].value
    assert hasattr(login_page.wsgi_request, "session")
    assert hasattr(login_page.wsgi_request, "user")

    rejected = client.post("/admin/login/", {"username": "nobody", "password": "wrong"})
    assert rejected.status_code == 403


@pytest.mark.parametrize("accept", ["", "*/*", "application/json", "application/*", "application/json; q=0.9"])
def test_json_accept_values_get_json(owner, accept):
    response = owner.get(KV, HTTP_ACCEPT=accept)

    assert response["Content-Type"].startswith("application/json")
    assert response.json()["ok"] is True or response.json()["error"]["code"] == "key_not_found"


def test_accept_without_json_is_406(owner):
    response = owner.get(KV, HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "not_acceptable"


def test_unknown_format_parameter_is_404(owner):
    response = owner.get(KV + "?format=xml")

    assert response.status_code == 404
    assert response.json()["ok"] is False


class CountArguments(StrictSerializer):
    count = StrictIntegerField()


def test_reused_fields_read_the_new_context():
    from_query = CountArguments(data={"count": "5"}, context={"from_query": True})
    assert from_query.is_valid()
    assert from_query.validated_data == {"count": 5}

    from_body = CountArguments(data={"count": "5"}, context={"from_query": False})
    assert not from_body.is_valid()
    assert "count" in from_body.errors

    assert from_body.fields is from_query.fields
    assert from_body.fields["count"].parent is from_body


def test_fields_are_not_shared_across_threads():
    fields_by_thread = []

    def validate():
        serializer = CountArguments(data={"count": 1})
        assert serializer.is_valid()
        fields_by_thread.append(serializer.fields)

    threads = [threading.Thread(target=validate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fields_by_thread) == 2
    assert fields_by_thread[0] is not fields_by_thread[1]


def test_pipeline_validates_each_operation_with_its_own_arguments(owner):
    response = owner.post(
        "/api/v1/ns/alpha/pipeline",
        {
            "operations": [
                {"area": "kv", "op": "set", "key": "a", "args": {"value": "1"}},
                {"area": "kv", "op": "set", "key": "b", "args": {"value": 2}},
                {"area": "kv", "op": "incr", "key": "a", "args": {"by": 2}},
                {"area": "kv", "op": "incr", "key": "a", "args": {"by": "2"}},
            ]
        },
    )

    results = response.json()["data"]["results"]
    assert [result["ok"] for result in results] == [True, False, True, False]
    assert results[1]["error"]["code"] == "invalid"
    assert results[2]["data"]["value"] == 3
    assert results[3]["error"]["code"] == "invalid"
