"""Where a webhook may be delivered: the public internet only, unless the operator allows more.

The address rules are marketplace.lib.netguard's (loopback, link-local, private, unique-local,
shared, multicast, reserved and unspecified addresses are refused, IPv4 hidden in IPv6 judged as
itself); the allowance is the webhooks' own: ``WEBHOOK_ALLOWED_NETWORKS`` (ranges, e.g. an
operator's internal receivers, or 127.0.0.0/8 in the tests) and ``WEBHOOK_ALLOW_HTTP`` (plain
http, development and tests; https otherwise). The URL is checked when it is saved (no DNS) and
again at every delivery: the name is resolved, every address checked, and the connection made to
a checked address (``session()``), so a rebinding DNS answer is never used. Redirects are not
followed and proxies from the environment are ignored.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from marketplace.lib import netguard as rules

Address = rules.Address
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
REFUSED = "Webhooks are delivered only to public internet addresses; this one is not."


class Refused(ValueError):
    """A destination webhooks are not sent to; ``str()`` is safe to show to the endpoint's user."""


def _networks() -> tuple[rules.Network, ...]:
    return rules.parse_networks(getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", ()) or ())


def _check(address: Address) -> None:
    if not rules.address_allowed(address, _networks()):
        raise Refused(REFUSED)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_url(url: str) -> tuple[str, int]:
    """The static check (no DNS): https (http only if allowed), a host, no credentials, no literal
    address or local name that the rules refuse. Returns (host, port)."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as exc:
        raise Refused("This is not a usable URL.") from exc
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme == "http" and not getattr(settings, "WEBHOOK_ALLOW_HTTP", False):
        raise Refused("Use an https:// URL: webhooks are signed but their content is not encrypted over http.")
    if scheme not in ("http", "https"):
        raise Refused("Use an https:// URL.")
    if not host:
        raise Refused("This URL has no host name.")
    if parts.username or parts.password:
        raise Refused("A webhook URL may not contain a user name or password: each delivery is signed instead.")
    literal = _literal(host)
    if literal is not None:
        _check(literal)
    elif host in _LOCAL_NAMES or host.endswith(".localhost"):
        _check(ipaddress.ip_address("127.0.0.1"))
    return host, port or (80 if scheme == "http" else 443)


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, each checked (any refused address refuses them all)."""
    literal = _literal(host)
    if literal is not None:
        _check(literal)
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused("The webhook URL's host name does not resolve.") from exc
    found: list[Address] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        _check(address)
        if address not in found:
            found.append(address)
    if not found:
        raise Refused("The webhook URL's host name does not resolve.")
    return found


class _Checked:
    """urllib3 connection mixin: resolve, check every address, connect to a checked one (SNI keeps the name)."""

    _dns_host: str
    port: int

    def _new_conn(self) -> Any:
        name = self._dns_host
        last: Exception | None = None
        for address in resolve(name, self.port):
            self._dns_host = str(address)
            try:
                return super()._new_conn()  # type: ignore[misc]
            except NewConnectionError as exc:
                last = exc
            finally:
                self._dns_host = name
        assert last is not None
        raise last


class _HTTPConnection(_Checked, HTTPConnection):
    pass


class _HTTPSConnection(_Checked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {  # type: ignore[assignment]
            "http": _HTTPPool,
            "https": _HTTPSPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise Refused("Webhooks are not sent through a proxy.")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        check_url(request.url or "")
        kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)


def session() -> requests.Session:
    """A requests.Session whose every connection is checked; no proxies or .netrc from the environment."""
    s = requests.Session()
    s.trust_env = False
    adapter = _Adapter()
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


_shared: dict[int, requests.Session] = {}


def shared_session() -> requests.Session:
    """This process's kept-alive ``session()``: a delivery reuses the connection of the one before to the
    same host (no TCP or TLS handshake per event). Every request is still checked by ``check_url``, a new
    connection by ``resolve``; one per process (a forked worker child makes its own)."""
    s = _shared.get(os.getpid())
    if s is None:
        _shared.clear()  # a parent's session, inherited over fork, is never used by the child
        s = _shared[os.getpid()] = session()
    return s


def drop_shared_session() -> None:
    s = _shared.pop(os.getpid(), None)
    if s is not None:
        s.close()
