"""Where the marketplace may send a request on an owner's behalf (no server-side request forgery).

An owner types their cloud's URLs (Keystone, endpoint overrides) and the remote Keystone then lists
more (the service catalog). Every one of them is a request our servers make, from inside our network,
so each must point at the public internet:

- https only; plain http only for a host named in ``settings.CLOUD_URL_HTTP_HOSTS`` (development);
- no address that is loopback, link-local (169.254.169.254, the instance metadata service), private
  (RFC 1918), unique-local (fc00::/7), shared (100.64/10), multicast, reserved or unspecified, unless
  it lies in a range named in ``settings.CLOUD_URL_ALLOWED_NETWORKS`` (an operator's own cloud);
- the name is resolved and *every* address it resolves to is checked; the connection is then made
  to an address that was checked (provisioning.drivers.netguard), so a second lookup that answers
  differently (DNS rebinding) is never used.

``check_url`` is the static check a form can run (no DNS); ``resolve`` is the check at connection time.
Refusals say so in words an owner can act on; they never repeat what a remote server answered.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that mean this machine whatever DNS says.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class Refused(ValueError):
    """A destination the marketplace will not call. ``str()`` is safe to show to an owner."""


GENERIC_REFUSAL = (
    "This address is not allowed: the marketplace only connects to clouds on the public internet over https."
)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{value!r} is not an IP address or range (an *_ALLOWED_NETWORKS setting)."
            ) from exc
    return tuple(networks)


def parse_networks(values: tuple[str, ...] | list[str]) -> tuple[Network, ...]:
    """IP ranges from a setting's strings (cached); a malformed one stops the process at its first use."""
    return _networks(tuple(values or ()))


def allowed_networks() -> tuple[Network, ...]:
    return parse_networks(getattr(settings, "CLOUD_URL_ALLOWED_NETWORKS", ()) or ())


def http_hosts() -> frozenset[str]:
    return frozenset(h.strip().lower().strip("[]") for h in getattr(settings, "CLOUD_URL_HTTP_HOSTS", ()) or ())


def _plain(address: Address) -> Address:
    """An IPv4 address written as IPv6 (::ffff:127.0.0.1, 64:ff9b::/96 aside) judged as the IPv4 it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, Teredo or NAT64 address leads to (a gateway would forward there)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_allowed(address: Address, networks: tuple[Network, ...] | None = None) -> bool:
    """True for a public unicast address, or one inside a range the operator allowed (``networks``:
    another allowance than the clouds', e.g. webhooks.netguard's)."""
    address = _plain(address)
    if networks is None:
        networks = allowed_networks()
    if any(address in net for net in networks if net.version == address.version):
        return True
    embedded = _embedded_ipv4(address)
    if embedded is not None and not address_allowed(embedded, networks):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def check_address(address: Address) -> None:
    if not address_allowed(address):
        raise Refused(GENERIC_REFUSAL)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_url(url: str) -> tuple[str, int]:
    """The static check of one URL (no DNS): scheme, host present, no credentials in it, a literal
    address or a local name refused. Returns (host, port)."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as exc:
        raise Refused("This is not a usable URL.") from exc
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise Refused("This URL has no host name.")
    if parts.username or parts.password:
        raise Refused("Put credentials in the credential fields, not in the URL.")
    if scheme == "http":
        if host not in http_hosts():
            raise Refused("Use an https:// address: the marketplace does not send credentials over plain http.")
    elif scheme != "https":
        raise Refused("Use an https:// address.")
    literal = _literal(host)
    if literal is not None:
        check_address(literal)
    elif host in _LOCAL_NAMES or host.endswith(".localhost"):
        check_address(ipaddress.ip_address("127.0.0.1"))
    return host, port or (80 if scheme == "http" else 443)


def resolve(host: str, port: int) -> list[tuple[int, Address]]:
    """Every address ``host`` resolves to, each checked: (family, address) in resolver order.

    Refused when the name does not resolve or when *any* of its addresses is not allowed (a name that
    answers with one public and one private address is a rebinding attempt, not a cloud).
    """
    literal = _literal(host)
    if literal is not None:
        check_address(literal)
        return [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused("The cloud's host name does not resolve: check the URL.") from exc
    found: list[tuple[int, Address]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        check_address(address)
        if (family, address) not in found:
            found.append((family, address))
    if not found:
        raise Refused("The cloud's host name does not resolve: check the URL.")
    return found
