"""API requests skip the browser-only middleware and negotiate JSON without parsing Accept."""

import pytest
from django.test import Client

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
