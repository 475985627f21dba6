"""The one answer to "which address is this request from?" for the audit trail, rate limits and logs.

The connection's peer (``REMOTE_ADDR``) is the client, unless it is one of the proxies named in
``settings.TRUSTED_PROXIES`` (addresses or CIDR ranges; empty by default). Only then is
``X-Forwarded-For`` read, from the right (the entry the nearest proxy appended) leftwards, past every
trusted proxy: the first address that is not one is the client. Entries to its left were written by
the client itself and are never believed. Whatever is parsed is checked with ``ipaddress``; a
malformed header never raises, it just stops the walk at the last address that was believed.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# More hops than any real chain of proxies: a longer header is not walked further.
_MAX_HOPS = 20


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """Proxy addresses or ranges ("10.0.0.1", "10.0.0.0/8", "::1"); refuses a malformed one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {value!r} is not an IP address or range.") from exc
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def trusted_proxies() -> tuple[Network, ...]:
    return _trusted(tuple(getattr(settings, "TRUSTED_PROXIES", ())))


def parse_address(value: str | None) -> Address | None:
    """One address as a header or the server gives it: "203.0.113.9", "203.0.113.9:4711",
    "2001:db8::1", "[2001:db8::1]:443"; None for anything else (names, garbage, NUL bytes, zones)."""
    if not value:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):  # [v6] or [v6]:port
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return None
        text = host
    elif text.count(":") == 1:  # v4:port
        text, _, port = text.partition(":")
        if not _is_port(port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return None
        if address.ipv4_mapped:  # ::ffff:203.0.113.9 is 203.0.113.9
            return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) <= 65535


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(request: HttpRequest) -> Address | None:
    """The client's address (see the module's text), or None when the server gave none usable."""
    peer = parse_address(request.META.get("REMOTE_ADDR"))
    networks = trusted_proxies()
    if peer is None or not networks or not _is_trusted(peer, networks):
        return peer
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not isinstance(header, str):
        return peer
    believed = peer
    for hop in reversed(header.split(",")[-_MAX_HOPS:]):
        address = parse_address(hop)
        if address is None:
            break  # a proxy would not write this: stop at the last address a trusted hop vouched for
        believed = address
        if not _is_trusted(address, networks):
            break
    return believed


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as text ("203.0.113.9", "2001:db8::1"), or None."""
    address = client_address(request)
    return str(address) if address is not None else None


def client_port(request: HttpRequest) -> int | None:
    """The port the request came in on, as far as it is known: ``X-Forwarded-Port`` from a trusted
    proxy, else the server's ``REMOTE_PORT``; None when missing or not a port (1-65535)."""
    value = request.META.get("REMOTE_PORT")
    peer = parse_address(request.META.get("REMOTE_ADDR"))
    networks = trusted_proxies()
    if peer is not None and networks and _is_trusted(peer, networks) and "HTTP_X_FORWARDED_PORT" in request.META:
        value = request.META["HTTP_X_FORWARDED_PORT"]
    text = str(value).strip() if value is not None else ""
    return int(text) if _is_port(text) else None
