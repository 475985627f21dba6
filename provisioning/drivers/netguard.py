"""The HTTP transport every request to an owner's cloud goes through (marketplace.lib.netguard is the rule).

keystoneauth sends its requests through a ``requests.Session``; the OpenStack driver gives it the one
made here. Its adapter checks each request's URL (https, or http for a named development host), and
its connection pools resolve the host themselves, check every address it resolves to, and open the
socket to an address they checked: the Keystone URL, the endpoint overrides, every endpoint of the
remote service catalog and every redirect are checked when they are used, and a name that answers
differently the second time (DNS rebinding) is never looked up a second time. TLS still verifies the
certificate against the host *name* (SNI and hostname check use the URL's host, not the address).

Proxies from the environment are ignored (a proxy would reach whatever the owner named).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from marketplace.lib import netguard as policy
from provisioning.drivers.base import CloudError


class DestinationRefused(CloudError):
    """A request to an address the marketplace does not call. A CloudError, so the driver reports it
    as it stands (not retried: asking again will not make the address allowed)."""


def check_url(url: str) -> None:
    try:
        policy.check_url(url)
    except policy.Refused as exc:
        raise DestinationRefused(str(exc)) from None


class _Checked:
    """Mixin for urllib3 connections: resolve, check every address, connect to a checked one."""

    _dns_host: str
    port: int

    def _new_conn(self) -> Any:
        name = self._dns_host
        try:
            addresses = policy.resolve(name, self.port)
        except policy.Refused as exc:
            raise DestinationRefused(str(exc)) from None
        last: Exception | None = None
        for _family, address in addresses:
            # urllib3 opens the socket to _dns_host; point it at the checked address for this one call.
            # The URL's host name is put back before TLS starts, so SNI and the certificate check use it.
            self._dns_host = str(address)
            try:
                return super()._new_conn()  # type: ignore[misc]
            except NewConnectionError as exc:
                last = exc
            finally:
                self._dns_host = name
        assert last is not None
        raise last


class GuardedHTTPConnection(_Checked, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Checked, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection is checked (see the module's docstring)."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {  # type: ignore[assignment]
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise DestinationRefused("Requests to clouds do not go through a proxy.")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        check_url(request.url or "")
        kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)


def guarded_session() -> requests.Session:
    """A requests.Session for keystoneauth: every request checked, no proxies from the environment."""
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
