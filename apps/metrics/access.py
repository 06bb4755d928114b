"""Access rule of /metrics: only direct clients from REDGX_METRICS_ALLOWED_NETWORKS may read it."""

import ipaddress
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Headers a reverse proxy adds. Behind Nginx the peer address is the proxy's own, which may
# sit inside an allowed network, so a forwarded request is refused whatever its address.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def allowed_networks() -> tuple[Network, ...]:
    """Parse REDGX_METRICS_ALLOWED_NETWORKS; raise ImproperlyConfigured on an invalid entry."""
    networks = []
    for entry in settings.REDGX_METRICS_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"REDGX_METRICS_ALLOWED_NETWORKS has an invalid network {entry!r}: {exc}. "
                "Use addresses or CIDR blocks such as 10.0.0.0/8, separated by commas."
            ) from exc
    return tuple(networks)


def may_scrape(meta: dict) -> bool:
    """Return True for a request sent straight from an allowed address, not through a proxy."""
    if any(meta.get(header) for header in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(meta.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in allowed_networks())
