def source_address(request) -> str | None:
    """Return the client address of a request, through the trusted-proxy rules when they are installed."""
    try:
        from apps.api.clientaddress import client_address
    except ImportError:
        # NOTE: without apps.api.clientaddress, the socket peer is used, which is a
        # proxy's address when the gateway runs behind one.
        return request.META.get("REMOTE_ADDR") or None
    return client_address(request) or None
