"""The cloud driver protocol: what a driver reports, what it is asked, and the error it raises.

Two drivers implement it: provisioning.drivers.openstack (openstacksdk, the
owner's credentials) and provisioning.drivers.simulator (a pretend cloud for
the demo). The services talk only to this protocol, so nothing outside
provisioning/drivers/openstack.py imports openstacksdk.

Every driver raises CloudError for anything the cloud refuses or fails to do:
``transient=True`` means "try again later" (timeouts, 5xx, connection
errors); ``capacity=True`` means the cloud has no room (NoValidHost, quota),
which fails the booking with a reason the renter can read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.crypto import salted_hmac

# Metadata key and tag that mark a server as the marketplace's. The booking is named to the cloud
# only by booking_ref: the cloud's other tenants never see a (sequential) booking id or a renter.
META_BOOKING = "marketplace_booking"
TAG_MARKETPLACE = "marketplace"
NAME_PREFIX = "mkt-"


def booking_ref(booking_id: int, purpose: str = "booking", length: int = 20) -> str:
    """The booking as the cloud sees it: a stable keyed digest (Django's salted_hmac under SECRET_KEY,
    one per ``purpose``) that says nothing of its id or renter."""
    return salted_hmac(f"provisioning.{purpose}", str(booking_id), algorithm="sha256").hexdigest()[:length]


def server_name(booking_id: int) -> str:
    return f"{NAME_PREFIX}{booking_ref(booking_id)}"


def booking_tag(booking_id: int) -> str:
    return f"{NAME_PREFIX}{booking_ref(booking_id)}"


class CloudError(Exception):
    """The cloud refused or failed. ``message`` is safe to show to an owner or renter."""

    def __init__(self, message: str, *, transient: bool = False, capacity: bool = False, not_found: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.capacity = capacity
        self.not_found = not_found


@dataclass
class CloudServer:
    """What a driver reports about one server."""

    id: str
    name: str
    status: str  # Nova's vocabulary: BUILD, ACTIVE, RESIZE, VERIFY_RESIZE, ERROR, DELETED, ...
    metadata: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    flavor_name: str = ""
    addresses: dict[str, Any] = field(default_factory=dict)
    fault: str = ""

    @property
    def booking_ref(self) -> str:
        """The booking_ref() the marketplace wrote on it ("" when none)."""
        return str(self.metadata.get(META_BOOKING, ""))


@dataclass
class LaunchSpec:
    name: str
    booking_id: int
    flavor_id: str
    image_id: str
    keypair_name: str | None
    security_group_name: str | None
    metadata: dict[str, str]
    tags: list[str]
    # Cloud-init user-data as the renter gave it (plain text; the OpenStack driver base64-encodes it).
    # Never log or record it.
    user_data: str | None = None


@dataclass
class Capabilities:
    """What this cloud supports; recorded on the Server so the renter is told."""

    keypairs: bool = True
    security_groups: bool = True
    tags: bool = True
    diagnostics: bool = True
    # The driver's calls may run in threads at once (HTTP clients: yes; the DB-backed simulator: no).
    parallel_calls: bool = False


class CloudDriver(Protocol):
    def capabilities(self) -> Capabilities: ...

    def ensure_flavor(self, *, name: str, vcpus: int, ram_mib: int, disk_gb: int) -> str: ...

    def find_image(self, name: str) -> str: ...

    def ensure_keypair(self, *, name: str, public_key: str) -> str | None: ...

    def delete_keypair(self, name: str) -> None: ...

    def ensure_security_group(
        self, *, name: str, description: str, fresh: bool = False, cidrs: tuple[str, ...] = ()
    ) -> str | None:
        """The booking's group: ingress SSH (tcp/22) and ICMP only from ``cidrs`` (none: nothing in)."""
        ...

    def delete_security_group(self, name: str) -> None: ...

    def find_servers_for_booking(self, booking_id: int) -> list[CloudServer]: ...

    def create_server(self, spec: LaunchSpec) -> CloudServer: ...

    def get_server(self, server_id: str) -> CloudServer | None: ...

    def wait_for_status(self, server_id: str, statuses: tuple[str, ...], timeout: float) -> CloudServer: ...

    def resize_server(self, server_id: str, flavor_id: str) -> None: ...

    def confirm_resize(self, server_id: str) -> None: ...

    def delete_server(self, server_id: str) -> None: ...

    def wait_for_delete(self, server_id: str, timeout: float) -> None: ...

    def set_booking(self, server_id: str, booking_id: int, tags: list[str]) -> None: ...

    def list_marketplace_servers(self) -> list[CloudServer]: ...

    def list_marketplace_keypairs(self) -> list[str]: ...

    def list_marketplace_security_groups(self) -> list[str]: ...

    def diagnostics(self, server_id: str) -> dict[str, Any]: ...

    def rebuild_server(
        self,
        server_id: str,
        *,
        image_id: str,
        keypair_name: str | None,
        user_data: str | None,
        metadata: dict[str, str],
    ) -> None:
        """Rebuild in place: a fresh disk from ``image_id`` with this key pair and user-data (or none).

        The control transfer: whoever held the server loses it the moment the cloud accepts the
        call (the server leaves ACTIVE); the caller waits for ACTIVE again. On Nova, compute
        microversion 2.57 or later (key_name from 2.54, user_data from 2.57).
        """
        ...

    def console_output(self, server_id: str, length: int = 200) -> str:
        """The last ``length`` lines of the server's console log (Nova's os-getConsoleOutput)."""
        ...

    def list_public_images(self) -> list[str]:
        """Names of the images every project of the cloud may boot (for offerings that allow any image)."""
        ...

    def set_ssh_sources(self, *, name: str, cidrs: tuple[str, ...]) -> None:
        """Replace the ingress rules of the booking's group with SSH and ICMP from ``cidrs`` only (when a
        server passes to another renter, their sources replace the previous holder's)."""

    def list_project_servers(self) -> list[CloudServer]:
        """Every server of the credentials' project, the marketplace's or not (for adoption as standby)."""
        ...


def wait_for_status(
    driver: CloudDriver,
    server_id: str,
    statuses: tuple[str, ...],
    timeout: float,
    *,
    poll_seconds: float,
    subject: str = "The server",
) -> CloudServer:
    """Poll ``driver.get_server`` until the server is in one of ``statuses`` or in ERROR.

    ERROR is returned, not raised: the caller reads the server's fault. A server
    that vanishes raises ``CloudError(not_found=True)``; one still in another
    status after ``timeout`` seconds raises a plain CloudError. ``subject``
    starts those messages (the simulator says it is one).
    """
    deadline = time.monotonic() + timeout
    while True:
        server = driver.get_server(server_id)
        if server is None:
            raise CloudError(f"{subject} vanished from the cloud while we waited for it.", not_found=True)
        if server.status in statuses or server.status == "ERROR":
            return server
        if time.monotonic() >= deadline:
            raise CloudError(f"{subject} stayed {server.status} for more than {timeout:.0f} s.")
        time.sleep(poll_seconds)


# Nova's default policy (os_compute_api:os-server-diagnostics) shows server diagnostics to admins only.
DIAGNOSTICS_NEED_ADMIN = (
    "Needs the admin role on the owner's OpenStack project: Nova shows server diagnostics (CPU time, memory, "
    "disk and network counters) to admins only (policy os_compute_api:os-server-diagnostics). The owner's "
    "ordinary role still shows the server's status, so seconds active are measured."
)


class DiagnosticsForbidden(CloudError):
    """The credentials may read the server but not its diagnostics (a 403 from Nova's default policy).

    Metering turns it into a note on the sample and falls back to the server's status.
    """

    def __init__(self, message: str = DIAGNOSTICS_NEED_ADMIN):
        super().__init__(message)
