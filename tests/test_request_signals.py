"""Per-request work that Django does by default and RedGX leaves out."""

from django.core.cache import close_caches
from django.core.signals import request_finished


def test_cache_close_not_run_per_request():
    # disconnect() returns whether the receiver was connected.
    assert request_finished.disconnect(close_caches) is False
