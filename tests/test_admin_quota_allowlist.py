import ipaddress

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.tenancy import keycache
from apps.tenancy.keycache import Quota, load_key
from apps.tenancy.keys import create_api_key
from apps.tenancy.models import ApiKey, IpAllowlistEntry, Namespace, QuotaPolicy, normalize_network

from .conftest import READ


@pytest.fixture
def new_key(db):
    return create_api_key("svc", {"alpha": {READ}, "beta": {READ}}, create_namespaces=True)


def resolved(new_key):
    return load_key(ApiKey.digest_of(new_key.plain_key))


def test_quota_falls_back_to_settings(new_key, settings):
    settings.REDGX_RATE_PER_S = 7.5
    settings.REDGX_RATE_BURST = 15
    assert resolved(new_key).quota == Quota(
        rate_per_s=7.5,
        burst=15,
        max_request_bytes=None,
        max_queued_jobs=settings.REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE,
    )


def test_quota_uses_default_policy_then_own_policy(new_key, settings):
    QuotaPolicy.objects.create(name="default", rate_per_s=2, is_default=True)
    assert resolved(new_key).quota.rate_per_s == 2.0
    assert resolved(new_key).quota.burst == settings.REDGX_RATE_BURST

    own = QuotaPolicy.objects.create(name="own", burst=3, max_request_bytes=1000, max_queued_jobs=4)
    ApiKey.objects.filter(pk=new_key.api_key.pk).update(quota_policy=own)
    quota = resolved(new_key).quota
    # A field the key's own policy leaves empty comes from settings, not from the default policy.
    assert quota == Quota(rate_per_s=settings.REDGX_RATE_PER_S, burst=3, max_request_bytes=1000, max_queued_jobs=4)


def test_only_one_default_policy(db):
    QuotaPolicy.objects.create(name="a", is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        QuotaPolicy.objects.create(name="b", is_default=True)


def test_networks_of_key_and_namespaces(new_key):
    IpAllowlistEntry.objects.create(api_key=new_key.api_key, network="10.0.0.0/8")
    IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="alpha"), network="2001:db8::/32")
    Namespace.objects.create(name="gamma")
    IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="gamma"), network="192.0.2.0/24")
    key = resolved(new_key)
    assert key.networks == (ipaddress.ip_network("10.0.0.0/8"),)
    # Only granted namespaces with entries appear.
    assert key.namespace_networks == {"alpha": (ipaddress.ip_network("2001:db8::/32"),)}


def test_key_without_entries_has_empty_allowlist(new_key):
    key = resolved(new_key)
    assert key.networks == ()
    assert key.namespace_networks == {}


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        (" 192.0.2.7 ", "192.0.2.7/32"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("::1", "::1/128"),
    ],
)
def test_network_is_normalized(text, normalized):
    assert normalize_network(text) == normalized


@pytest.mark.parametrize("text", ["10.0.0.1/8", "300.0.0.0/8", "example.com", "", "10.0.0.0/33"])
def test_invalid_network_is_rejected(text):
    with pytest.raises(ValidationError):
        normalize_network(text)


def test_entry_needs_exactly_one_owner(new_key):
    namespace = Namespace.objects.get(name="alpha")
    for owners in ({}, {"api_key": new_key.api_key, "namespace": namespace}):
        with pytest.raises(IntegrityError), transaction.atomic():
            IpAllowlistEntry.objects.create(network="10.0.0.0/8", **owners)


def test_usage_flush_stores_last_ip(new_key):
    keycache.flush_key_usage()
    keycache.record_key_usage(new_key.api_key.pk, "192.0.2.9")
    assert keycache.flush_key_usage() == 1
    stored = ApiKey.objects.get(pk=new_key.api_key.pk)
    assert stored.last_used_ip == "192.0.2.9"
    assert stored.last_used_at is not None


@pytest.mark.parametrize("change", ["key_entry", "namespace_entry", "policy"])
def test_changes_evict_cached_key(new_key, change, django_capture_on_commit_callbacks):
    cache = keycache._cache_for_this_process()
    digest = ApiKey.digest_of(new_key.plain_key)
    assert cache.resolve(digest).networks == ()
    with django_capture_on_commit_callbacks(execute=True):
        if change == "key_entry":
            IpAllowlistEntry.objects.create(api_key=new_key.api_key, network="10.0.0.0/8")
        elif change == "namespace_entry":
            IpAllowlistEntry.objects.create(namespace=Namespace.objects.get(name="beta"), network="10.0.0.0/8")
        else:
            QuotaPolicy.objects.create(name="default", rate_per_s=1, is_default=True)
    key = cache.resolve(digest)
    if change == "key_entry":
        assert key.networks == (ipaddress.ip_network("10.0.0.0/8"),)
    elif change == "namespace_entry":
        assert key.namespace_networks == {"beta": (ipaddress.ip_network("10.0.0.0/8"),)}
    else:
        assert key.quota.rate_per_s == 1.0
