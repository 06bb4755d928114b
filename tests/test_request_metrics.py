"""Request metrics of apps.metrics.middleware, read from this process's Prometheus registry."""

from django.test import Client
from prometheus_client import REGISTRY

from .conftest import READ, WRITE, ApiClient, make_key


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def kv_view_name() -> str:
    from django.urls import resolve

    return resolve("/api/v1/ns/alpha/kv/k").view_name


def test_api_request_updates_each_family(db):
    client = ApiClient(make_key({"alpha": {READ, WRITE}}))
    view = kv_view_name()
    names = {
        "by_method": ("django_http_requests_total_by_method_total", {"method": "PUT"}),
        "by_view": (
            "django_http_requests_total_by_view_transport_method_total",
            {"view": view, "transport": "http", "method": "PUT"},
        ),
        "by_status": (
            "django_http_responses_total_by_status_view_method_total",
            {"status": "200", "view": view, "method": "PUT"},
        ),
        "latency": ("django_http_requests_latency_seconds_by_view_method_count", {"view": view, "method": "PUT"}),
    }
    before = {key: sample(name, **labels) for key, (name, labels) in names.items()}

    response = client.put("/api/v1/ns/alpha/kv/k", {"value": "v"})

    assert response.status_code == 200
    assert response.json()["data"]["written"] is True
    after = {key: sample(name, **labels) for key, (name, labels) in names.items()}
    assert after["by_method"] - before["by_method"] == 1
    assert after["by_view"] - before["by_view"] == 1
    assert after["by_status"] - before["by_status"] == 1
    assert after["latency"] - before["latency"] == 1


def test_error_response_counted_by_status(db):
    client = ApiClient(make_key({"alpha": {READ}}))
    view = kv_view_name()
    labels = {"status": "404", "view": view, "method": "GET"}
    before = sample("django_http_responses_total_by_status_view_method_total", **labels)

    response = client.get("/api/v1/ns/alpha/kv/missing-key")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "key_not_found"
    assert sample("django_http_responses_total_by_status_view_method_total", **labels) - before == 1


def test_unresolved_path_has_no_view_sample(db):
    labels = {"status": "404", "view": "<unnamed view>", "method": "GET"}
    before = sample("django_http_responses_total_by_status_view_method_total", **labels)

    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert sample("django_http_responses_total_by_status_view_method_total", **labels) - before == 1
    view_labels = {"view": "<unnamed view>", "transport": "http", "method": "GET"}
    assert REGISTRY.get_sample_value("django_http_requests_total_by_view_transport_method_total", view_labels) is None


def test_invalid_method_is_one_label(db):
    before = sample("django_http_requests_total_by_method_total", method="<invalid method>")

    response = Client().generic("BREW", "/api/v1/ns/alpha/kv/k")

    assert response.status_code in (401, 405)
    assert sample("django_http_requests_total_by_method_total", method="<invalid method>") - before == 1
    assert REGISTRY.get_sample_value("django_http_requests_total_by_method_total", {"method": "BREW"}) is None


def test_metrics_scrape_is_not_counted(db):
    before = sample("django_http_requests_total_by_method_total", method="GET")

    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert sample("django_http_requests_total_by_method_total", method="GET") == before
