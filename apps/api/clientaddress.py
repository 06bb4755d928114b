"""The client address of a request, for allowlists, rate limits and access history.

The address is the socket peer. Only when the peer is one of REDGX_TRUSTED_PROXIES does
``X-Forwarded-For`` count: it is read from the right, each trusted proxy is skipped, and
the first address that is not a trusted proxy is the client. Entries to the left of that
one were written by the client itself and are ignored, so a forged header changes nothing.
"""

import ipaddress
import logging
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4)
def _parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def trusted_proxies() -> tuple[Network, ...]:
    return _parse_networks(tuple(settings.REDGX_TRUSTED_PROXIES))


def parse_address(text: str) -> Address | None:
    """Parse one address as it appears in a socket peer or an X-Forwarded-For entry; None if invalid."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        # "[2001:db8::1]:443", as some proxies write IPv6 peers with a port.
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        # "192.0.2.1:51234": an IPv4 address with a port.
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4-mapped IPv6 peer ("::ffff:192.0.2.1") is the IPv4 client on a dual-stack socket.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, proxies: tuple[Network, ...]) -> bool:
    return any(address in network for network in proxies)


def resolve_client_address(peer: str, forwarded_for: str | None) -> str:
    """Return the client address for a socket peer and its X-Forwarded-For header.

    A malformed X-Forwarded-For entry met before an untrusted address makes the peer the
    client, because nothing to its left can be trusted.
    """
    peer_address = parse_address(peer or "")
    if peer_address is None:
        return peer or ""
    proxies = trusted_proxies()
    if not forwarded_for or not proxies or not _is_trusted(peer_address, proxies):
        return str(peer_address)

    for entry in reversed(forwarded_for.split(",")):
        address = parse_address(entry)
        if address is None:
            return str(peer_address)
        if not _is_trusted(address, proxies):
            return str(address)
    # Every hop is a trusted proxy, so the leftmost one is the closest to the client we know.
    return str(address)


def client_address(request) -> str:
    """Return the client address of a Django request (also usable as axes' AXES_CLIENT_IP_CALLABLE)."""
    return resolve_client_address(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR"))


def scope_client_address(scope: dict) -> str:
    """Return the client address of an ASGI connection scope.

    The ASGI server must leave ``scope["client"]`` as the socket peer: run uvicorn with
    ``--no-proxy-headers``, because its default rewrites the peer from X-Forwarded-For.
    """
    client = scope.get("client") or ("", 0)
    values = [value.decode("latin-1") for name, value in scope.get("headers", []) if name.lower() == b"x-forwarded-for"]
    return resolve_client_address(client[0], ",".join(values) or None)


def address_in_networks(address: str, networks: Iterable) -> bool:
    """True when ``networks`` is empty or contains ``address``.

    ``networks`` holds ipaddress network objects or their text. An address that cannot
    be parsed is in no network.
    """
    networks = list(networks)
    if not networks:
        return True
    parsed = parse_address(address)
    if parsed is None:
        return False
    for network in networks:
        if isinstance(network, str):
            network = ipaddress.ip_network(network, strict=False)
        if parsed.version == network.version and parsed in network:
            return True
    return False
