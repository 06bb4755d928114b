"""The admin's inference dashboard: the page, its JSON data view, the index link and the vendored chart library."""

import json
import re

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client

from apps.adminapi import inference_state
from apps.inference import queues, stats

from .conftest import free_port
from .envelopes import data_of, error_of

DASHBOARD = "/admin/dashboard/"
DATA = "/admin/dashboard/data"


@pytest.fixture
def staff(db) -> Client:
    """A logged-in staff user without any model permission."""
    user = User.objects.create_user("operator", password="operator-password", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member(db) -> Client:
    """A logged-in user who is not staff."""
    user = User.objects.create_user("member", password="member-password")
    client = Client()
    client.force_login(user)
    return client


def test_dashboard_page_for_staff(staff):
    response = staff.get(DASHBOARD)

    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Inference dashboard | RedGX admin</title>" in page
    charts = re.findall(r'data-chart="(\w+)"', page)
    assert charts == ["queue_depth", "throughput", "batch_size", "errors"]
    assert 'data-url="/admin/dashboard/data"' in page
    assert 'data-poll-interval-ms="5000"' in page
    periods = re.findall(r'<option value="(\d+)"( selected)?>\s*last \d+ minutes\s*</option>', page)
    assert periods == [("5", ""), ("10", " selected"), ("30", ""), ("60", "")]
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js" defer>' in page
    assert '<script src="/static/redgx/dashboard.js" defer>' in page


def test_dashboard_page_loads_nothing_external(staff):
    page = staff.get(DASHBOARD).content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert [source for source in sources if not source.startswith(("/", "#"))] == []


def test_dashboard_labels_rendered_for_script(staff):
    page = staff.get(DASHBOARD).content.decode()

    match = re.search(r'<script id="dashboard-labels" type="application/json">(.*?)</script>', page, re.S)
    labels = json.loads(match.group(1))
    assert labels["statuses"] == {"done": "done", "failed": "failed"}
    assert labels["rejections"]["queue_full"] == "queue full"
    assert labels["circuits"] == {"closed": "closed", "open": "open"}
    assert labels["updated"] == "Updated at %(time)s"


def test_dashboard_page_follows_language_cookie(staff):
    staff.cookies["django_language"] = "ko"

    page = staff.get(DASHBOARD).content.decode()

    assert '<html lang="ko"' in page


def test_dashboard_page_redirects_non_staff(member):
    response = member.get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/dashboard/"


def test_dashboard_page_redirects_anonymous(db):
    response = Client().get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/dashboard/"


def test_admin_index_links_dashboard(staff):
    page = staff.get("/admin/").content.decode()

    assert '<a href="/admin/dashboard/">Inference dashboard</a>' in page


def test_dashboard_data_for_staff(staff, monkeypatch):
    # A fixed stats clock keeps every count in one bucket, however slow the test runs.
    monkeypatch.setattr(stats, "clock", lambda: 1_800_000_002.0)
    stats.record_outcome("embed", "shop", "done")
    stats.record_batch("default-embed", 4, 12.0)

    data = data_of(staff.get(DATA))

    assert data["metrics"]["window_s"] == 60
    assert data["metrics"]["queues"]["embed"]["depth"] == 0
    assert data["metrics"]["batches"]["default-embed"]["items"] == 4
    series = data["series"]
    assert series["bucket_s"] == 5
    assert len(series["t"]) == 120
    assert series["t"][-1] == 1_800_000_000
    # The counts are in the bucket still filling, which the chart series leave out.
    assert series["throughput"] == {}
    assert series["batch_size"] == {}
    # The metrics call stored this bucket's depth sample, and a depth sample is shown at once.
    assert series["queue_depth"]["embed"][-1] == 0
    assert series["queue_depth"]["embed"][:-1] == [None] * 119


def test_dashboard_data_not_cached(staff):
    response = staff.get(DATA)

    assert "no-store" in response["Cache-Control"]


def test_dashboard_data_minutes(staff):
    series = data_of(staff.get(f"{DATA}?minutes=1"))["series"]

    assert len(series["t"]) == 12


@pytest.mark.parametrize("minutes", ["0", "61", "abc", "-1", "\u0661"])
def test_dashboard_data_invalid_minutes(staff, minutes):
    error = error_of(staff.get(f"{DATA}?minutes={minutes}"), 400)

    assert error["code"] == "invalid"
    assert "'minutes'" in error["message"]


def test_dashboard_data_rejects_non_staff(member):
    error = error_of(member.get(DATA), 403)

    assert error["code"] == "staff_required"


def test_dashboard_data_rejects_anonymous(db):
    error = error_of(Client().get(DATA), 403)

    assert error["code"] == "staff_required"


def test_dashboard_data_rejects_post(staff):
    response = staff.post(DATA)

    assert response.status_code == 405


@pytest.mark.parametrize(
    "path",
    ["/static/vendor/uplot/uPlot.iife.min.js", "/static/vendor/uplot/uPlot.min.css", "/static/redgx/dashboard.js"],
)
def test_dashboard_static_files_served(path, db):
    response = Client().get(path)

    assert response.status_code == 200
    assert len(b"".join(response.streaming_content)) > 1000


def test_vendored_uplot_version_and_licence():
    from .conftest import ROOT

    vendor = ROOT / "static" / "vendor" / "uplot"
    assert (vendor / "uPlot.iife.min.js").read_text().startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert (vendor / "LICENSE").read_text().startswith("The MIT License (MIT)")
    assert "uPlot 1.6.32" in (vendor / "README.md").read_text()


def test_dashboard_data_inference_redis_down(staff, monkeypatch):
    # Real clients of a loopback port that nothing listens on, in every module the view reads through.
    unreachable = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    for module in (stats, queues, inference_state):
        monkeypatch.setattr(module, "inference_redis", lambda: unreachable)

    error = error_of(staff.get(DATA), 503)

    assert error == {"code": "redis_unavailable", "message": "Redis is unavailable. Retry later."}
