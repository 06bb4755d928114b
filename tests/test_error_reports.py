"""Error reports show the request's metadata, never the server process's environment."""

import os

from django.test import RequestFactory
from django.views.debug import ExceptionReporter

SECRET_DATABASE_URL = "postgres://redgx:hunter2-secret@db.internal:5432/redgx"


def granian_like_request(monkeypatch):
    """Build a request whose META contains the process environment, as granian builds it."""
    monkeypatch.setenv("DATABASE_URL", SECRET_DATABASE_URL)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")

    request = RequestFactory().get("/api/v1/ns/alpha/kv/hello", HTTP_X_CLIENT="tool/1.0")
    request.META = {**os.environ, **request.META, "HTTP_PROXY": os.environ["HTTP_PROXY"]}
    return request


def test_report_leaves_out_the_process_environment(monkeypatch, settings):
    settings.DEBUG = True
    request = granian_like_request(monkeypatch)
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        reporter = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
        html = reporter.get_traceback_html()
        text = reporter.get_traceback_text()

    for report in (html, text):
        assert "hunter2-secret" not in report
        assert "DATABASE_URL" not in report
        assert "proxy.internal" not in report
        assert "HTTP_X_CLIENT" in report
        assert "tool/1.0" in report
        assert "/api/v1/ns/alpha/kv/hello" in report
