"""Language selection on API paths through apps.api.locale.ApiLocaleMiddleware."""

from django.conf import settings
from django.test import Client

from .conftest import READ, ApiClient, make_key

KV = "/api/v1/ns/alpha/kv/missing"


def test_accept_language_picks_korean(db):
    client = ApiClient(make_key({"alpha": {READ}}))

    response = client.get(KV, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")

    assert response.status_code == 404
    assert response.json()["error"] == {"code": "key_not_found", "message": "'missing' 키를 찾을 수 없습니다."}
    assert response["Content-Language"] == "ko"
    assert "Accept-Language" in response["Vary"]


def test_default_language_without_header(db):
    client = ApiClient(make_key({"alpha": {READ}}))

    response = client.get(KV)

    assert response.json()["error"] == {"code": "key_not_found", "message": "Key 'missing' not found."}
    assert response["Content-Language"] == settings.LANGUAGE_CODE
    assert "Accept-Language" in response["Vary"]


def test_language_cookie_beats_header(db):
    client = ApiClient(make_key({"alpha": {READ}}))
    client.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"

    response = client.get(KV, HTTP_ACCEPT_LANGUAGE="en")

    assert response.json()["error"]["message"] == "'missing' 키를 찾을 수 없습니다."
    assert response["Content-Language"] == "ko"


def test_compat_path_follows_accept_language(db):
    response = Client().get("/compat/upstash/ns/alpha/get/k", HTTP_ACCEPT_LANGUAGE="ko")

    assert response.status_code == 401
    assert response["Content-Language"] == "ko"
    assert "Accept-Language" in response["Vary"]


def test_admin_login_keeps_django_locale(db):
    response = Client().get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ko")

    assert response.status_code == 200
    assert response["Content-Language"] == "ko"
    assert "로그인".encode() in response.content
