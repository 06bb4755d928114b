"""The client address: socket peer, or X-Forwarded-For walked from the right through trusted proxies."""

import pytest
from django.test import override_settings

from apps.api.clientaddress import address_in_networks, resolve_client_address, scope_client_address

PROXIES = ["10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.7", None, "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        ("127.0.0.1", "10.1.1.1", "127.0.0.1"),
    ],
)
def test_without_trusted_proxies_peer_wins(peer, forwarded_for, expected):
    assert resolve_client_address(peer, forwarded_for) == expected


@override_settings(REDGX_TRUSTED_PROXIES=PROXIES)
@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # The proxy appended the client it saw.
        ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
        # A forged entry left of the real client is ignored.
        ("10.0.0.2", "198.51.100.66, 203.0.113.9", "203.0.113.9"),
        # Two trusted hops are skipped.
        ("10.0.0.2", "198.51.100.66, 203.0.113.9, 10.9.9.9", "203.0.113.9"),
        # An untrusted peer's header counts for nothing.
        ("203.0.113.7", "10.0.0.5", "203.0.113.7"),
        # A malformed entry before any untrusted address falls back to the peer.
        ("10.0.0.2", "203.0.113.9, not-an-address", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        # Ports and IPv6 forms that proxies write.
        ("10.0.0.2", "203.0.113.9:5123", "203.0.113.9"),
        ("10.0.0.2", "[2001:db8::5]:443", "2001:db8::5"),
        ("fd00::1", "2001:db8::7", "2001:db8::7"),
        # Every hop trusted: the leftmost one.
        ("10.0.0.2", "10.3.3.3, 10.4.4.4", "10.3.3.3"),
    ],
)
def test_trusted_proxy_chain(peer, forwarded_for, expected):
    assert resolve_client_address(peer, forwarded_for) == expected


def test_ipv4_mapped_peer_is_ipv4():
    assert resolve_client_address("::ffff:192.0.2.1", None) == "192.0.2.1"


@override_settings(REDGX_TRUSTED_PROXIES=["127.0.0.1/32"])
def test_scope_address_reads_forwarded_header():
    scope = {"client": ("127.0.0.1", 50000), "headers": [(b"x-forwarded-for", b"198.51.100.4")]}
    assert scope_client_address(scope) == "198.51.100.4"


def test_scope_address_ignores_forged_header():
    scope = {"client": ("127.0.0.1", 50000), "headers": [(b"x-forwarded-for", b"198.51.100.4")]}
    assert scope_client_address(scope) == "127.0.0.1"


def test_address_in_networks():
    assert address_in_networks("10.1.2.3", [])
    assert address_in_networks("10.1.2.3", ["10.0.0.0/8"])
    assert not address_in_networks("11.1.2.3", ["10.0.0.0/8"])
    assert not address_in_networks("2001:db8::1", ["10.0.0.0/8"])
    assert address_in_networks("2001:db8::1", ["10.0.0.0/8", "2001:db8::/32"])
    assert not address_in_networks("garbage", ["10.0.0.0/8"])
