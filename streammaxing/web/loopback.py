"""Whether a request comes from this machine and not through a proxy (the local operator)."""

from __future__ import annotations

import ipaddress
import re

from starlette.requests import Request

_FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)


def _is_loopback(host: str) -> bool:
    host = host.strip().strip('"')
    if host == "localhost":
        return True
    # "for=" may carry a port ("127.0.0.1:1234"); an IPv6 address was unbracketed above.
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def forwarded_clients(request: Request) -> list[str]:
    """Every client address an ``X-Forwarded-For`` or ``Forwarded`` header names."""
    found: list[str] = []
    for value in request.headers.getlist("x-forwarded-for"):
        found.extend(part.strip() for part in value.split(",") if part.strip())
    for value in request.headers.getlist("forwarded"):
        found.extend(match.group(1) for match in _FORWARDED_FOR.finditer(value))
    return found


def is_local(request: Request) -> bool:
    """The peer is a loopback address and every forwarded client is too."""
    client = request.client
    if client is None or not _is_loopback(client.host):
        return False
    return all(_is_loopback(host) for host in forwarded_clients(request))
