"""The local SIMULATOR driver: a pretend cloud for the demo. It launches no real server.

Same protocol as the OpenStack driver (provisioning.drivers.base.CloudDriver); its
"servers", key pairs and security groups are rows of SimulatedResource so the
web process, workers and beat all see the same pretend cloud. Timings and
failures come from settings (read at each call, so tests can change them):

  SIMULATOR_LAUNCH_SECONDS   seconds a server stays BUILD before ACTIVE (default 2)
  SIMULATOR_RESIZE_SECONDS   seconds a resize takes (default 1)
  SIMULATOR_DELETE_SECONDS   seconds a server stays DELETING before it is gone (default 0)
  SIMULATOR_REBUILD_SECONDS  seconds a rebuild (control transfer, wipe) stays REBUILD (default 1)
  SIMULATOR_FAIL_RATE        0..1, share of launches that fail (default 0)
  SIMULATOR_FAIL_MODE        "no_valid_host" (refused at once, a capacity error) or
                             "error" (the server goes to ERROR)  (default no_valid_host)
  SIMULATOR_POLL_SECONDS     how often wait_for_status looks at a server (default 0.1)
  SIMULATOR_PUBLIC_IMAGES    the images it lists as public (default: ubuntu-24.04, debian-12, cirros-0.6)

A server's user-data is not kept (only whether there was any): the console log says so, never what.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from marketplace.lib import clock
from owners.hooks import ConnectionResult
from owners.models import Cloud
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
)
from provisioning.drivers.base import (
    wait_for_status as poll_until,
)
from provisioning.models import SimulatedResource

POLL_SECONDS = 0.1
PUBLIC_IMAGES = ("ubuntu-24.04", "debian-12", "cirros-0.6")


def test_connection(cloud: Cloud) -> ConnectionResult:
    return ConnectionResult(True, "Simulator: always reachable (no real servers are launched).")


def _rules(cidrs: tuple[str, ...]) -> list[dict[str, Any]]:
    """Ingress rules as Neutron would hold them: tcp/22 and icmp from each source range."""
    return [
        {"protocol": protocol, "port": 22 if protocol == "tcp" else None, "remote_ip_prefix": cidr}
        for cidr in cidrs
        for protocol in ("tcp", "icmp")
    ]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# Bytes (or ns of CPU) per second of the simulator's pretend servers: tests compute expected usage from these.
SIMULATED_RATES = {"cpu0_time": 0.35e9, "vda_read": 4096, "vda_write": 8192, "vnet0_rx": 1500, "vnet0_tx": 900}


def simulated_counters(age_seconds: float, *, memory_mib: int = 512) -> dict[str, int]:
    """The simulator's diagnostics of a server ACTIVE for ``age_seconds`` (memory in KiB, as Nova's legacy keys)."""
    return {
        **{key: int(age_seconds * rate) for key, rate in SIMULATED_RATES.items()},
        "memory": memory_mib * 1024,
    }


class SimulatorDriver:
    """A pretend cloud: clearly not OpenStack, same protocol."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud

    @property
    def _rows(self) -> QuerySet[SimulatedResource]:
        return SimulatedResource.objects.filter(cloud=self.cloud)

    def _create(self, **fields: Any) -> SimulatedResource:
        return SimulatedResource.objects.create(cloud=self.cloud, external_id=str(uuid.uuid4()), **fields)

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def ensure_flavor(self, *, name: str, vcpus: int, ram_mib: int, disk_gb: int) -> str:
        row = self._rows.filter(kind="flavor", name=name).first()
        if row is None:
            row = self._create(kind="flavor", name=name, data={"vcpus": vcpus, "ram": ram_mib, "disk": disk_gb})
        return row.external_id

    def find_image(self, name: str) -> str:
        return f"sim-image-{name}"

    def ensure_keypair(self, *, name: str, public_key: str) -> str | None:
        if not self._rows.filter(kind="keypair", name=name).exists():
            self._create(kind="keypair", name=name, data={"public_key": public_key})
        return name

    def delete_keypair(self, name: str) -> None:
        self._rows.filter(kind="keypair", name=name).delete()

    def ensure_security_group(
        self, *, name: str, description: str, fresh: bool = False, cidrs: tuple[str, ...] = ()
    ) -> str | None:
        """Ingress rules as Neutron would get them: tcp/22 and icmp from each of ``cidrs``."""
        if not self._rows.filter(kind="secgroup", name=name).exists():
            self._create(kind="secgroup", name=name, data={"description": description, "rules": _rules(cidrs)})
        return name

    def delete_security_group(self, name: str) -> None:
        self._rows.filter(kind="secgroup", name=name).delete()

    def _view(self, row: SimulatedResource) -> CloudServer | None:
        status = row.status
        if status == "DELETING":
            if row.ready_at is None or clock.now() >= row.ready_at:
                row.delete()
                return None
            return CloudServer(
                id=row.external_id,
                name=row.name,
                status="DELETING",
                metadata=dict(row.data.get("metadata", {})),
                tags=list(row.data.get("tags", [])),
            )
        if status in ("BUILD", "REBUILD") and row.ready_at and clock.now() >= row.ready_at:
            status = row.data.get("then", "ACTIVE")
            row.status = status
            if status == "ACTIVE" and row.data.get("resize_to"):
                row.data["flavor"] = row.data.pop("resize_to")
                row.status = status = "VERIFY_RESIZE"
            row.save(update_fields=["status", "data"])
        return CloudServer(
            id=row.external_id,
            name=row.name,
            status=status,
            metadata=dict(row.data.get("metadata", {})),
            tags=list(row.data.get("tags", [])),
            flavor_name=row.data.get("flavor", ""),
            addresses={"simulated": [{"addr": row.data.get("ip", ""), "version": 4}]},
            fault=row.data.get("fault", ""),
        )

    def find_servers_for_booking(self, booking_id: int) -> list[CloudServer]:
        rows = self._rows.filter(kind="server", data__metadata__contains={META_BOOKING: booking_ref(booking_id)})
        return [v for r in rows.order_by("created_at") if (v := self._view(r)) is not None]

    def create_server(self, spec: LaunchSpec) -> CloudServer:
        fail_rate = float(_setting("SIMULATOR_FAIL_RATE", 0))
        failing = fail_rate > 0 and random.random() < fail_rate
        mode = _setting("SIMULATOR_FAIL_MODE", "no_valid_host")
        if failing and mode == "no_valid_host":
            raise CloudError("Simulator: no valid host was found (the pretend cloud is full).", capacity=True)
        flavor = self._rows.filter(kind="flavor", external_id=spec.flavor_id).first()
        n = self._rows.filter(kind="server").count() + 1
        row = self._create(
            kind="server",
            name=spec.name,
            status="BUILD",
            ready_at=clock.now() + timedelta(seconds=float(_setting("SIMULATOR_LAUNCH_SECONDS", 2))),
            data={
                "metadata": dict(spec.metadata),
                "tags": list(spec.tags),
                "flavor": flavor.name if flavor else spec.flavor_id,
                "image": spec.image_id,
                "key_name": spec.keypair_name,
                "security_group": spec.security_group_name,
                "has_user_data": bool(spec.user_data),
                "ip": f"198.51.100.{n % 250 + 2}",
                "then": "ERROR" if failing else "ACTIVE",
                "fault": "Simulator: the server failed to build." if failing else "",
            },
        )
        view = self._view(row)
        assert view is not None  # a fresh server is BUILD, never DELETING
        return view

    def get_server(self, server_id: str) -> CloudServer | None:
        row = self._rows.filter(kind="server", external_id=server_id).first()
        return self._view(row) if row else None

    def wait_for_status(self, server_id: str, statuses: tuple[str, ...], timeout: float) -> CloudServer:
        poll = float(_setting("SIMULATOR_POLL_SECONDS", POLL_SECONDS))
        return poll_until(self, server_id, statuses, timeout, poll_seconds=poll, subject="Simulator: the server")

    def resize_server(self, server_id: str, flavor_id: str) -> None:
        row = self._rows.filter(kind="server", external_id=server_id).first()
        if row is None:
            raise CloudError("Simulator: no such server.", not_found=True)
        flavor = self._rows.filter(kind="flavor", external_id=flavor_id).first()
        row.status = "BUILD"
        row.data["then"] = "ACTIVE"
        row.data["resize_to"] = flavor.name if flavor else flavor_id
        row.ready_at = clock.now() + timedelta(seconds=float(_setting("SIMULATOR_RESIZE_SECONDS", 1)))
        row.save(update_fields=["status", "data", "ready_at"])

    def confirm_resize(self, server_id: str) -> None:
        self._rows.filter(kind="server", external_id=server_id, status="VERIFY_RESIZE").update(status="ACTIVE")

    def delete_server(self, server_id: str) -> None:
        seconds = float(_setting("SIMULATOR_DELETE_SECONDS", 0))
        rows = self._rows.filter(kind="server", external_id=server_id)
        if seconds <= 0:
            rows.delete()
        else:
            rows.exclude(status="DELETING").update(status="DELETING", ready_at=clock.now() + timedelta(seconds=seconds))

    def wait_for_delete(self, server_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.get_server(server_id) is not None:
            if time.monotonic() >= deadline:
                raise CloudError(f"Simulator: server {server_id} still deleting after {timeout:.0f} s.", transient=True)
            time.sleep(POLL_SECONDS)

    def set_booking(self, server_id: str, booking_id: int, tags: list[str]) -> None:
        row = self._rows.filter(kind="server", external_id=server_id).first()
        if row is None:
            raise CloudError("Simulator: no such server.", not_found=True)
        row.data["metadata"] = {**row.data.get("metadata", {}), META_BOOKING: booking_ref(booking_id)}
        row.data["tags"] = sorted(set(row.data.get("tags", [])) | set(tags))
        row.save(update_fields=["data"])

    def list_marketplace_servers(self) -> list[CloudServer]:
        rows = self._rows.filter(kind="server", data__tags__contains=[TAG_MARKETPLACE])
        return [v for r in rows if (v := self._view(r)) is not None]

    def list_marketplace_keypairs(self) -> list[str]:
        return list(self._rows.filter(kind="keypair", name__startswith=NAME_PREFIX).values_list("name", flat=True))

    def list_marketplace_security_groups(self) -> list[str]:
        return list(self._rows.filter(kind="secgroup", name__startswith=NAME_PREFIX).values_list("name", flat=True))

    def diagnostics(self, server_id: str) -> dict[str, Any]:
        """Counters that grow with the seconds since the server became ACTIVE (a rebuild or resize restarts them).

        SIMULATOR_DIAGNOSTICS_FORBIDDEN=True answers as Nova does to a project member's credentials (403).
        """
        if _setting("SIMULATOR_DIAGNOSTICS_FORBIDDEN", False):
            raise DiagnosticsForbidden()
        row = self._rows.filter(kind="server", external_id=server_id).first()
        if row is None:
            raise CloudError("Simulator: no such server.", not_found=True)
        view = self._view(row)
        if view is None:
            raise CloudError("Simulator: no such server.", not_found=True)
        age = max(0.0, (clock.now() - (row.ready_at or row.created_at)).total_seconds())
        return {
            **simulated_counters(age, memory_mib=int(row.data.get("memory_mib", 512))),
            "state": "running" if view.status == "ACTIVE" else view.status.lower(),
        }

    def rebuild_server(
        self,
        server_id: str,
        *,
        image_id: str,
        keypair_name: str | None,
        user_data: str | None,
        metadata: dict[str, str],
    ) -> None:
        row = self._rows.filter(kind="server", external_id=server_id).first()
        if row is None:
            raise CloudError("Simulator: no such server.", not_found=True)
        now = clock.now()
        row.status = "REBUILD"
        row.ready_at = now + timedelta(seconds=float(_setting("SIMULATOR_REBUILD_SECONDS", 1)))
        row.data.update(
            {
                "then": "ACTIVE",
                "image": image_id,
                "key_name": keypair_name,
                "has_user_data": bool(user_data),
                "metadata": dict(metadata),
                "rebuilds": int(row.data.get("rebuilds", 0)) + 1,
                "rebuilt_at": now.isoformat(),
            }
        )
        row.save(update_fields=["status", "ready_at", "data"])

    def console_output(self, server_id: str, length: int = 200) -> str:
        """A plausible boot log: the image, the key pair, whether user-data was given (never its text)."""
        row = self._rows.filter(kind="server", external_id=server_id).first()
        if row is None:
            raise CloudError("Simulator: no such server.", not_found=True)
        data = row.data
        image = str(data.get("image", "")).removeprefix("sim-image-")
        lines = [
            f"[    0.000000] Linux version 6.8.0-sim (simulator) booting image {image}",
            f"[    1.204311] cloud-init[412]: Cloud-init v. 24.1 running 'init' on {row.name}",
            f"[    1.510022] cloud-init[412]: ci-info: eth0 {data.get('ip', '')}/24 up",
        ]
        if data.get("key_name"):
            lines.append(f"[    2.013377] cloud-init[412]: Authorized SSH key from key pair {data['key_name']}")
        else:
            lines.append("[    2.013377] cloud-init[412]: no SSH key pair given")
        if data.get("has_user_data"):
            lines.append("[    2.300120] cloud-init[412]: Running user-data supplied by the renter")
        else:
            lines.append("[    2.300120] cloud-init[412]: No user-data supplied")
        if row.status in ("ACTIVE", "VERIFY_RESIZE"):
            lines.append(f"[    3.100000] cloud-init[412]: Cloud-init v. 24.1 finished; {row.name} login: ")
        return "\n".join(lines[-max(int(length), 1) :]) + "\n"

    def list_public_images(self) -> list[str]:
        return list(_setting("SIMULATOR_PUBLIC_IMAGES", PUBLIC_IMAGES))

    def set_ssh_sources(self, *, name: str, cidrs: tuple[str, ...]) -> None:
        row = self._rows.filter(kind="secgroup", name=name).first()
        if row is None:
            raise CloudError(f"Simulator: no security group {name}.", not_found=True)
        row.data["rules"] = _rules(cidrs)
        row.save(update_fields=["data"])

    def list_project_servers(self) -> list[CloudServer]:
        """Every pretend server of this cloud, tagged by the marketplace or not."""
        rows = self._rows.filter(kind="server").order_by("created_at", "id")
        return [v for r in rows if (v := self._view(r)) is not None]
