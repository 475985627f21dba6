"""The OpenStack driver. The only module that imports openstacksdk.

Every cloud error is wrapped into CloudError with a message an owner or
renter can act on (``transient`` for what is worth retrying, ``capacity`` for
NoValidHost and quota refusals).

Clouds without a network service (a bare Nova): security groups are a
Neutron API, so the driver reports ``security_groups=False`` and the launch
records that the server has no firewall of its own instead of failing.
"""

from __future__ import annotations

import base64
import ipaddress
import threading
import time
from typing import Any

import openstack
from django.conf import settings
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from keystoneauth1.identity import v3
from openstack import exceptions as os_exc

from marketplace.lib import crypto
from owners.hooks import ConnectionResult
from owners.models import Cloud
from provisioning.drivers import netguard
from provisioning.drivers.base import (
    META_BOOKING,
    NAME_PREFIX,
    TAG_MARKETPLACE,
    Capabilities,
    CloudError,
    CloudServer,
    DiagnosticsForbidden,
    LaunchSpec,
    booking_ref,
    booking_tag,
)
from provisioning.drivers.base import (
    wait_for_status as poll_until,
)

CONNECT_TIMEOUT = 10
POLL_SECONDS = 1.0  # default; PROVISIONING_POLL_SECONDS overrides
CONNECTION_TTL = 600  # seconds a cached connection (and its token) is reused

__all__ = ["CloudError", "OpenStackDriver", "connect", "describe_error", "test_connection"]


def connect(cloud: Cloud) -> openstack.connection.Connection:
    """A connection with the cloud's application credential, or a static token for a noauth2 Nova.

    Every request it sends (Keystone, the catalog's endpoints, redirects) goes through
    provisioning.drivers.netguard: https only, and no private, loopback or link-local address unless
    the operator allowed it (CLOUD_URL_HTTP_HOSTS, CLOUD_URL_ALLOWED_NETWORKS). The URLs the owner
    typed are checked here first, so a refused one fails before any credential is sent anywhere.
    The Keystone-less endpoint override exists only where CLOUD_NOAUTH_ENDPOINTS is on (development).
    """
    overrides = [u for u in (cloud.compute_endpoint_override, cloud.image_endpoint_override) if u]
    for url in [cloud.auth_url, *overrides] if cloud.auth_url else overrides:
        netguard.check_url(url)
    secret = _secret(cloud)
    if cloud.auth_url:
        auth: Any = v3.ApplicationCredential(
            auth_url=cloud.auth_url,
            application_credential_id=cloud.app_credential_id,
            application_credential_secret=secret,
        )
    else:
        if not getattr(settings, "CLOUD_NOAUTH_ENDPOINTS", False):
            raise CloudError("This cloud has no Keystone auth URL: add one (endpoint-only clouds are for development).")
        if not cloud.compute_endpoint_override:
            raise CloudError("An OpenStack cloud needs its Keystone auth URL.")
        # Development Nova with auth_strategy=noauth2: the token is "user:project".
        token = secret or f"admin:{cloud.project_id or 'admin'}"
        auth = token_endpoint.Token(cloud.compute_endpoint_override, token)
    # Certificates are always checked: against CLOUD_CA_BUNDLE when the operator names one (a private CA),
    # requests' bundle otherwise.
    session = ks_session.Session(
        auth=auth,
        session=netguard.guarded_session(),
        timeout=CONNECT_TIMEOUT,
        app_name="timeslice-marketplace",
        verify=getattr(settings, "CLOUD_CA_BUNDLE", "") or True,
    )
    return openstack.connection.Connection(
        session=session,
        region_name=cloud.region_name,
        compute_endpoint_override=cloud.compute_endpoint_override or None,
        image_endpoint_override=cloud.image_endpoint_override or None,
        app_name="timeslice-marketplace",
    )


def _secret(cloud: Cloud) -> str:
    """The cloud's credential secret; one that cannot be read (the keys changed, or the ciphertext was
    copied from another cloud's row) is a CloudError the owner can act on, before anything is sent."""
    try:
        return cloud.reveal_secret()
    except crypto.SecretUnreadable:
        raise CloudError(
            "The cloud's stored application credential secret cannot be read (the encryption keys changed, "
            "or it does not belong to this cloud): enter the secret again."
        ) from None


def describe_error(exc: Exception) -> str:
    """A reason an owner can act on, in our words: never what the remote server answered (a body could
    be anything an address behind the owner's URL chose to say)."""
    if isinstance(exc, CloudError):
        return exc.message
    if isinstance(exc, ks_exc.Unauthorized | os_exc.HttpException) and getattr(exc, "status_code", None) == 401:
        return "The cloud refused the credentials (401): check the application credential ID and secret."
    if isinstance(exc, ks_exc.SSLError):
        return (
            "The cloud's TLS certificate was not accepted: it must be valid for the URL's host name and issued "
            "by a certificate authority the marketplace trusts."
        )
    if isinstance(exc, ks_exc.ConnectFailure | ks_exc.ConnectTimeout):
        return "Could not reach the cloud: the address refused or timed out. Check the auth URL."
    if isinstance(exc, ks_exc.DiscoveryFailure):
        return "The auth URL does not look like a Keystone endpoint."
    if isinstance(exc, ks_exc.EndpointNotFound):
        return "The cloud has no compute endpoint in that region."
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if isinstance(exc, os_exc.HttpException | ks_exc.HttpError) and status:
        return f"The cloud answered with an error (HTTP {int(status)})."
    if isinstance(exc, ks_exc.ClientException | os_exc.SDKException):
        return f"The cloud could not be used ({type(exc).__name__})."
    return f"Unexpected error talking to the cloud: {type(exc).__name__}"


def wrap(exc: Exception) -> CloudError:
    """One CloudError for every openstacksdk / keystoneauth failure."""
    if isinstance(exc, CloudError):
        return exc
    message = describe_error(exc)
    status = getattr(exc, "status_code", None)
    text = f"{getattr(exc, 'details', '') or ''} {getattr(exc, 'message', '') or ''} {exc}".lower()
    if isinstance(exc, os_exc.ResourceTimeout):
        return CloudError(f"The cloud did not finish in time: {exc}"[:400])
    if isinstance(exc, os_exc.ResourceFailure):
        return CloudError(f"The cloud reported a failure: {exc}"[:400], capacity="no valid host" in text)
    if isinstance(exc, ks_exc.ConnectFailure | ks_exc.ConnectTimeout | ks_exc.RetriableConnectionFailure):
        return CloudError(message, transient=True)
    if status in (403, 409, 413) and "quota" in text:
        return CloudError(f"The cloud's quota is used up: {exc}"[:400], capacity=True)
    if status == 404:
        return CloudError(message, not_found=True)
    if status in (408, 429) or (status is not None and status >= 500):
        return CloudError(message, transient=True)
    if isinstance(exc, os_exc.SDKException | ks_exc.ClientException):
        return CloudError(message)
    return CloudError(f"Unexpected error talking to the cloud: {type(exc).__name__}: {exc}"[:400])


def test_connection(cloud: Cloud) -> ConnectionResult:
    """Authenticate and list flavors: proves the credentials and the compute endpoint."""
    try:
        conn = connect(cloud)
        flavors = list(conn.compute.flavors())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable reason
        return ConnectionResult(False, describe_error(exc))
    return ConnectionResult(True, f"Connected: the compute service lists {len(flavors)} flavors.")


def _poll_seconds() -> float:
    return float(getattr(settings, "PROVISIONING_POLL_SECONDS", POLL_SECONDS))


# Flavor and image ids by (cloud, kind, name): looked up once a while, not on every launch.
LOOKUP_TTL = 300.0
_ids: dict[tuple[int, str, str], tuple[float, str]] = {}
_cache: dict[tuple[int, str], tuple[float, openstack.connection.Connection]] = {}
_cache_lock = threading.Lock()


def _cached_connection(cloud: Cloud) -> openstack.connection.Connection:
    key = (cloud.pk or 0, str(cloud.updated_at))
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < CONNECTION_TTL:
            return hit[1]
    conn = connect(cloud)
    with _cache_lock:
        _cache[key] = (now, conn)
    return conn


def _view(server: Any) -> CloudServer:
    flavor = server.flavor or {}
    # Microversion 2.47+ embeds the flavor (original_name); older ones only link it by id.
    flavor_name = (flavor.get("original_name") or flavor.get("name") or "") if isinstance(flavor, dict) else ""
    fault = server.fault or {}
    return CloudServer(
        id=server.id,
        name=server.name or "",
        status=(server.status or "").upper(),
        metadata=dict(server.metadata or {}),
        tags=list(server.tags or []),
        flavor_name=flavor_name,
        addresses=dict(server.addresses or {}),
        fault=(fault.get("message") or "") if isinstance(fault, dict) else str(fault),
    )


class OpenStackDriver:
    """The owner's OpenStack cloud through openstacksdk."""

    def __init__(self, cloud: Cloud, conn: openstack.connection.Connection | None = None):
        self.cloud = cloud
        self._conn = conn

    @property
    def conn(self) -> openstack.connection.Connection:
        if self._conn is None:
            try:
                self._conn = _cached_connection(self.cloud)
            except Exception as exc:
                raise wrap(exc) from exc
        return self._conn

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CloudError:
            raise
        except Exception as exc:
            raise wrap(exc) from exc

    def _has_network(self) -> bool:
        try:
            return bool(self.conn.has_service("network"))
        except Exception:  # noqa: BLE001
            return False

    def capabilities(self) -> Capabilities:
        return Capabilities(
            keypairs=True, security_groups=self._has_network(), tags=True, diagnostics=True, parallel_calls=True
        )

    # -- flavors, images ---------------------------------------------------------------------------

    def _lookup(self, kind: str, name: str) -> str | None:
        hit = _ids.get((self.cloud.pk or 0, kind, name))
        return hit[1] if hit and time.monotonic() - hit[0] < LOOKUP_TTL else None

    def _remember(self, kind: str, name: str, value: str) -> str:
        _ids[(self.cloud.pk or 0, kind, name)] = (time.monotonic(), value)
        return value

    def ensure_flavor(self, *, name: str, vcpus: int, ram_mib: int, disk_gb: int) -> str:
        cached = self._lookup("flavor", name)
        if cached:
            return cached
        flavor = self._call(self.conn.compute.find_flavor, name, ignore_missing=True)
        if flavor is not None:
            return self._remember("flavor", name, flavor.id)
        try:
            created = self.conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram_mib, disk=disk_gb, is_public=True)
        except os_exc.HttpException as exc:
            if exc.status_code in (401, 403):
                raise CloudError(
                    f"The cloud has no flavor named {name!r} and these credentials may not create one: "
                    "ask the owner to create it."
                ) from exc
            if exc.status_code == 409:  # created meanwhile by another worker
                return self._call(self.conn.compute.find_flavor, name, ignore_missing=False).id
            raise wrap(exc) from exc
        except Exception as exc:
            raise wrap(exc) from exc
        return self._remember("flavor", name, created.id)

    def find_image(self, name: str) -> str:
        cached = self._lookup("image", name)
        if cached:
            return cached
        image = self._call(self.conn.image.find_image, name, ignore_missing=True)
        if image is None:
            raise CloudError(f"The image {name!r} is not available on the owner's cloud.")
        return self._remember("image", name, image.id)

    # -- key pairs, security groups ----------------------------------------------------------------

    def ensure_keypair(self, *, name: str, public_key: str) -> str | None:
        """Create the key pair; when the name exists already (a retry), keep it if it holds the same key."""
        try:
            self.conn.compute.create_keypair(name=name, public_key=public_key)
            return name
        except os_exc.HttpException as exc:
            if exc.status_code in (400, 403, 404, 501):  # key refused, or no key pairs here: launch without
                return None
            if exc.status_code != 409:
                raise wrap(exc) from exc
        except Exception as exc:
            raise wrap(exc) from exc
        existing = self._call(self.conn.compute.find_keypair, name, ignore_missing=True)
        if existing is not None and (existing.public_key or "").split()[:2] == public_key.split()[:2]:
            return name
        self._call(self.conn.compute.delete_keypair, name, ignore_missing=True)
        self._call(self.conn.compute.create_keypair, name=name, public_key=public_key)
        return name

    def delete_keypair(self, name: str) -> None:
        self._call(self.conn.compute.delete_keypair, name, ignore_missing=True)

    def _find_group(self, name: str) -> Any:
        found = self._call(lambda: list(self.conn.network.security_groups(name=name)))
        return found[0] if found else None

    def ensure_security_group(
        self, *, name: str, description: str, fresh: bool = False, cidrs: tuple[str, ...] = ()
    ) -> str | None:
        """The booking's own group: SSH and ping in from the renter's ``cidrs`` only (none: nothing in);
        Neutron's default egress rules out.

        ``fresh``: the caller knows no earlier attempt can have made it (skips one lookup).
        """
        if not self._has_network():
            return None
        if not fresh and self._find_group(name) is not None:
            return name
        group = self._call(self.conn.network.create_security_group, name=name, description=description)
        self._add_ssh_rules(group.id, cidrs)
        return name

    def delete_security_group(self, name: str) -> None:
        if not self._has_network():
            return
        # Neutron allows duplicate names: delete every group of the booking's name.
        for group in self._call(lambda: list(self.conn.network.security_groups(name=name))):
            self._call(self.conn.network.delete_security_group, group, ignore_missing=True)

    # -- servers -----------------------------------------------------------------------------------

    def find_servers_for_booking(self, booking_id: int) -> list[CloudServer]:
        found = self._call(lambda: list(self.conn.compute.servers(details=True, tags=booking_tag(booking_id))))
        return [_view(s) for s in found if (s.metadata or {}).get(META_BOOKING) == booking_ref(booking_id)]

    def _networks(self) -> Any:
        choice = getattr(settings, "PROVISIONING_NETWORKS", "auto") or "auto"
        if choice in ("auto", "none"):
            return choice if self._has_network() or choice == "none" else "none"
        net = self._call(self.conn.network.find_network, choice, ignore_missing=True)
        if net is None:
            raise CloudError(f"The network {choice!r} does not exist on the owner's cloud.")
        return [{"uuid": net.id}]

    def create_server(self, spec: LaunchSpec) -> CloudServer:
        attrs: dict[str, Any] = {
            "name": spec.name,
            "flavor_id": spec.flavor_id,
            "image_id": spec.image_id,
            "metadata": spec.metadata,
            "tags": spec.tags,
            "networks": self._networks(),
        }
        if spec.keypair_name:
            attrs["key_name"] = spec.keypair_name
        if spec.security_group_name:
            attrs["security_groups"] = [{"name": spec.security_group_name}]
        if spec.user_data:
            # Nova wants user_data base64-encoded (openstacksdk's compute proxy sends it as given).
            attrs["user_data"] = base64.b64encode(spec.user_data.encode("utf-8")).decode("ascii")
        server = self._call(self.conn.compute.create_server, **attrs)
        return CloudServer(
            id=server.id,
            name=spec.name,
            status=(server.status or "BUILD").upper(),
            metadata=dict(spec.metadata),
            tags=list(spec.tags),
        )

    def get_server(self, server_id: str) -> CloudServer | None:
        if not server_id:
            return None
        try:
            return _view(self.conn.compute.get_server(server_id))
        except os_exc.NotFoundException:
            return None
        except Exception as exc:
            raise wrap(exc) from exc

    def wait_for_status(self, server_id: str, statuses: tuple[str, ...], timeout: float) -> CloudServer:
        return poll_until(self, server_id, statuses, timeout, poll_seconds=_poll_seconds())

    def resize_server(self, server_id: str, flavor_id: str) -> None:
        self._call(self.conn.compute.resize_server, server_id, flavor_id)

    def confirm_resize(self, server_id: str) -> None:
        self._call(self.conn.compute.confirm_server_resize, server_id)

    def delete_server(self, server_id: str) -> None:
        self._call(self.conn.compute.delete_server, server_id, ignore_missing=True)

    def wait_for_delete(self, server_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.get_server(server_id) is not None:
            if time.monotonic() >= deadline:
                raise CloudError(f"The cloud did not delete server {server_id} within {timeout:.0f} s.", transient=True)
            time.sleep(_poll_seconds())

    def set_booking(self, server_id: str, booking_id: int, tags: list[str]) -> None:
        self._call(self.conn.compute.set_server_metadata, server_id, **{META_BOOKING: booking_ref(booking_id)})
        for tag in tags:
            self._call(self.conn.compute.add_tag_to_server, server_id, tag)

    def list_marketplace_servers(self) -> list[CloudServer]:
        found = self._call(lambda: list(self.conn.compute.servers(details=True, tags=TAG_MARKETPLACE)))
        return [_view(s) for s in found]

    def list_marketplace_keypairs(self) -> list[str]:
        return [
            k.name
            for k in self._call(lambda: list(self.conn.compute.keypairs()))
            if (k.name or "").startswith(NAME_PREFIX)
        ]

    def list_marketplace_security_groups(self) -> list[str]:
        if not self._has_network():
            return []
        groups = self._call(lambda: list(self.conn.network.security_groups()))
        return [g.name for g in groups if (g.name or "").startswith(NAME_PREFIX)]

    def diagnostics(self, server_id: str) -> dict[str, Any]:
        """Nova server diagnostics, flattened to the legacy keys (cpu0_time ns, memory KiB, vda_read bytes...).

        Raises DiagnosticsForbidden when the credentials' role may not read them (403: admin only by default).
        """
        conn = self.conn
        try:
            diag = conn.compute.get_server_diagnostics(server_id)
        except os_exc.HttpException as exc:
            if exc.status_code == 403 and "quota" not in str(exc).lower():
                raise DiagnosticsForbidden() from exc  # an ordinary (member) role: metering falls back to status
            raise wrap(exc) from exc
        except Exception as exc:
            raise wrap(exc) from exc
        out: dict[str, Any] = {}
        for i, cpu in enumerate(diag.cpu_details or []):
            if cpu.get("time") is not None:
                out[f"cpu{cpu.get('id', i)}_time"] = int(cpu["time"])
        mem = diag.memory_details or {}
        if mem.get("used") is not None:
            out["memory"] = int(mem["used"]) * 1024
        if mem.get("maximum") is not None:
            out["memory-maximum"] = int(mem["maximum"]) * 1024
        for i, disk in enumerate(diag.disk_details or []):
            dev = f"vd{chr(ord('a') + i)}"
            out[f"{dev}_read"] = int(disk.get("read_bytes") or 0)
            out[f"{dev}_write"] = int(disk.get("write_bytes") or 0)
        for i, nic in enumerate(diag.nic_details or []):
            out[f"vnet{i}_rx"] = int(nic.get("rx_octets") or 0)
            out[f"vnet{i}_tx"] = int(nic.get("tx_octets") or 0)
        if diag.uptime is not None:
            out["uptime"] = int(diag.uptime)
        out["state"] = diag.state
        return out

    def rebuild_server(
        self,
        server_id: str,
        *,
        image_id: str,
        keypair_name: str | None,
        user_data: str | None,
        metadata: dict[str, str],
    ) -> None:
        # Nova: key_name needs compute microversion 2.54, user_data 2.57 (openstacksdk negotiates the
        # highest both sides know). None clears the previous holder's key and user-data.
        encoded = base64.b64encode(user_data.encode()).decode() if user_data else None
        self._call(
            self.conn.compute.rebuild_server,
            server_id,
            image_id,
            key_name=keypair_name,
            user_data=encoded,
            metadata=dict(metadata),
        )

    def console_output(self, server_id: str, length: int = 200) -> str:
        """Nova's os-getConsoleOutput, the last ``length`` lines."""
        found = self._call(self.conn.compute.get_server_console_output, server_id, length=length)
        return str((found or {}).get("output") or "") if isinstance(found, dict) else str(found or "")

    def list_public_images(self) -> list[str]:
        """Active public images of the cloud's image service, by name (cached for LOOKUP_TTL)."""
        hit = _ids.get((self.cloud.pk or 0, "public_images", ""))
        if hit and time.monotonic() - hit[0] < LOOKUP_TTL:
            return hit[1].split("\n") if hit[1] else []
        images = self._call(lambda: list(self.conn.image.images(visibility="public", status="active")))
        names = sorted({i.name for i in images if i.name and "\n" not in i.name})
        self._remember("public_images", "", "\n".join(names))
        return names

    def set_ssh_sources(self, *, name: str, cidrs: tuple[str, ...]) -> None:
        """Delete the group's ingress rules, then let SSH and ping in from ``cidrs`` only (no network
        service: nothing to do, as ensure_security_group made no group)."""
        if not self._has_network():
            return
        group = self._find_group(name)
        if group is None:
            raise CloudError(f"The security group {name!r} is gone from the owner's cloud.", not_found=True)
        for rule in self._call(
            lambda: list(self.conn.network.security_group_rules(security_group_id=group.id, direction="ingress"))
        ):
            self._call(self.conn.network.delete_security_group_rule, rule, ignore_missing=True)
        self._add_ssh_rules(group.id, cidrs)

    def _add_ssh_rules(self, group_id: str, cidrs: tuple[str, ...]) -> None:
        rules: list[dict[str, Any]] = []
        for cidr in cidrs:
            v6 = ipaddress.ip_network(cidr, strict=False).version == 6
            ethertype = "IPv6" if v6 else "IPv4"
            rules.append(
                {
                    "protocol": "tcp",
                    "port_range_min": 22,
                    "port_range_max": 22,
                    "ethertype": ethertype,
                    "remote_ip_prefix": cidr,
                }
            )
            rules.append({"protocol": "ipv6-icmp" if v6 else "icmp", "ethertype": ethertype, "remote_ip_prefix": cidr})
        if rules:
            data = [{"security_group_id": group_id, "direction": "ingress", **rule} for rule in rules]
            self._call(lambda: list(self.conn.network.create_security_group_rules(data)))

    def list_project_servers(self) -> list[CloudServer]:
        """Every server of the application credential's project (Nova scopes the list to it)."""
        found = self._call(lambda: list(self.conn.compute.servers(details=True)))
        return [_view(s) for s in found]
