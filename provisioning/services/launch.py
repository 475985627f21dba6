"""Launching a booking's server: record the intent, create (or adopt) it in the cloud, wait for ACTIVE.

Launching adopts a server the cloud already has for the booking (metadata
``marketplace_booking=<booking_ref>``, an opaque keyed digest: the cloud never sees the booking id),
so a booking never gets two servers. Booking
states move only through scheduling.services.booking_transition; billing
learns of failures from the engine's ``on_booking_ended`` hook.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from audit.services import record_event
from marketplace.lib import clock
from provisioning.drivers import (
    META_BOOKING,
    TAG_MARKETPLACE,
    CloudDriver,
    CloudError,
    CloudServer,
    LaunchSpec,
    booking_ref,
    booking_tag,
    driver_for,
    server_name,
)
from provisioning.models import LIVE_STATES, Server, ServerState
from provisioning.services.common import (
    LAUNCHABLE,
    _move_booking,
    _readable_failure,
    _take_lease,
    _update_if_leased,
    active_timeout,
    claim_server,
)
from provisioning.services.handover import _predecessor
from provisioning.services.metering import meter_start_at
from provisioning.services.reclaim import server_reclaim
from scheduling import services as engine
from scheduling.models import Booking, BookingState

B = BookingState
SS = ServerState


@dataclass
class Prepared:
    server: Server
    token: str


def launch_prepare(*, booking_id: int, now: datetime | None = None) -> Prepared | None:
    """Record the intent to launch (Server row, booking -> provisioning) and lease the row. Commits.

    Returns None when there is nothing to do: the booking is not launchable,
    its server is already up, another worker holds the lease, or the renter's
    previous adjacent booking will hand its server over.
    """
    now = now or clock.now()
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("offering__cloud", "profile")
            .filter(pk=booking_id)
            .first()
        )
        if booking is None or booking.state not in LAUNCHABLE or booking.ends_at <= now:
            return None
        if booking.state == B.CONFIRMED:
            pred = _predecessor(booking)
            if pred is not None and Server.objects.filter(booking=pred, state=SS.ACTIVE).exists():
                # The renter keeps the same server across adjacent slices: no launch.
                return None
        server = Server.objects.filter(booking=booking, state__in=LIVE_STATES).first()
        if server is None:
            name = server_name(booking.pk)
            # Key pairs belong to the cloud *user*, not the project: a random suffix keeps two
            # installations (or test databases) that share a user from ever touching each other's.
            keypair = f"{name}-{secrets.token_hex(3)}"
            server = Server(
                booking=booking,
                cloud=booking.offering.cloud,
                offering=booking.offering,
                vcpus=booking.vcpus,
                ram_mib=booking.ram_mib,
                disk_gb=booking.disk_gb,
                bandwidth_mbps=booking.bandwidth_mbps,
                state=SS.PENDING,
                name=name,
                flavor_name=booking.profile.flavor_name,
                image_name=booking.image or (booking.offering.allowed_images or [""])[0],
                keypair_name=keypair,
                security_group_name=name,
                created_at=now,
                updated_at=now,
            )
            if not claim_server(server):
                # The offering's cloud is full (a server being wiped or deleted, or one the previous
                # slice still holds): no launch now. Its end hands its server over, or a retry launches.
                return None
            record_event(
                actor=None,
                verb="server.launch_requested",
                target=server,
                data={"booking": booking.pk, "flavor": server.flavor_name, "image": server.image_name},
            )
        elif server.state not in (SS.PENDING, SS.BUILDING):
            return None  # active, resizing, deleting or error: not a launch
        token = _take_lease(server, now=now, state=SS.BUILDING)
        if token is None:
            return None
        server.attempts += 1
        Server.objects.filter(pk=server.pk).update(attempts=server.attempts)
        if booking.state == B.CONFIRMED:
            engine.booking_transition(actor=None, booking=booking, to=B.PROVISIONING)
    return Prepared(server=server, token=token)


def server_launch(*, booking_id: int) -> Server | None:
    """Launch (or adopt) the booking's server and wait for ACTIVE; the booking ends running or failed.

    Raises CloudError(transient=True) for the caller to retry (the lease is released first).
    """
    prepared = launch_prepare(booking_id=booking_id)
    if prepared is None:
        return Server.objects.filter(booking_id=booking_id, state__in=LIVE_STATES).first()
    return _launch_run(prepared)


def _launch_run(prepared: Prepared) -> Server:
    server, token = prepared.server, prepared.token
    assert server.booking_id is not None
    booking = Booking.objects.select_related("offering__cloud", "profile", "renter").get(pk=server.booking_id)
    driver = driver_for(server.cloud)
    try:
        cloud_server = _launch_cloud(driver, server, booking, token)
    except CloudError as exc:
        if exc.transient:
            _update_if_leased(server, token, lease_until=None, error_message=exc.message[:500])
            raise
        return _launch_failed(server, token, booking, _readable_failure(exc), driver)
    if cloud_server.status != "ACTIVE":
        return _launch_failed(server, token, booking, _readable_failure(None, cloud_server.fault), driver)
    now = clock.now()
    with transaction.atomic():
        locked = Server.objects.select_for_update().get(pk=server.pk)
        if locked.lease_token != token:
            return locked  # someone else took over after our lease expired: they record the outcome
        locked.state = SS.ACTIVE
        locked.addresses = cloud_server.addresses
        locked.active_at = now
        locked.held_from = locked.held_from or now
        locked.lease_until = None
        locked.lease_token = ""
        locked.error_message = ""
        locked.updated_at = now
        locked.save(
            update_fields=[
                "state",
                "addresses",
                "active_at",
                "held_from",
                "lease_until",
                "lease_token",
                "error_message",
                "updated_at",
            ]
        )
        record_event(
            actor=None,
            verb="server.active",
            target=locked,
            data={
                "booking": booking.pk,
                "external_id": locked.external_id,
                "addresses": _flat_addresses(cloud_server.addresses),
            },
        )
    meter_start_at(server_id=locked.pk, at=booking.starts_at)  # the baseline of a 5-second slice's usage
    if not _move_booking(booking.pk, B.RUNNING):
        # The booking ended while we launched (released, preempted): give the server back now.
        current = Booking.objects.only("state").get(pk=booking.pk).state
        if current not in (B.RUNNING, B.NOTICE):
            server_reclaim(server_id=locked.pk, reason=f"booking is {current}")
    return locked


def _launch_cloud(driver: CloudDriver, server: Server, booking: Booking, token: str) -> CloudServer:
    from provisioning.access import renter_access

    caps = driver.capabilities()
    notes: list[str] = []
    # What the renter's server carries (key, user-data, SSH sources, image): one place for launch and rebuild.
    access = renter_access(booking)
    if not access.can_log_in:
        # Checked when booked too; the renter may have removed their key since. Nobody could log in.
        raise CloudError(
            "You have no SSH key on file and gave no user-data, so nobody could log into the server: it was not started"
        )
    flavor_id = driver.ensure_flavor(
        name=booking.profile.flavor_name, vcpus=booking.vcpus, ram_mib=booking.ram_mib, disk_gb=booking.disk_gb
    )
    image_id = driver.find_image(server.image_name or access.image)
    first_attempt = server.attempts <= 1 and not server.external_id
    cidrs = tuple(access.ssh_cidrs)

    def make_keypair() -> str | None:
        if access.public_key is None:
            return None
        return driver.ensure_keypair(name=server.keypair_name, public_key=access.public_key)

    def make_group() -> str | None:
        sources = ", ".join(cidrs) if cidrs else "nowhere"
        return driver.ensure_security_group(
            name=server.security_group_name,
            description=f"Marketplace slice: SSH and ping from {sources}, nothing else."[:250],
            fresh=first_attempt,
            cidrs=cidrs,
        )

    if caps.parallel_calls and caps.keypairs and caps.security_groups:
        # Two services (compute, network), no dependency between them: one round trip instead of two.
        with ThreadPoolExecutor(max_workers=2) as pool:
            kp_future, sg_future = pool.submit(make_keypair), pool.submit(make_group)
            keypair, secgroup = kp_future.result(), sg_future.result()
    else:
        keypair = make_keypair() if caps.keypairs else None
        secgroup = make_group() if caps.security_groups else None
    if access.public_key is not None and keypair is None:
        if access.user_data is None:
            # Never launch a server the renter cannot log into: fail the booking (refunded) and say why.
            raise CloudError(
                "The owner's cloud refused your SSH key (key pairs refused or unsupported) and you gave no "
                "user-data, so nobody could log into the server: it was not started"
            )
        notes.append(
            "The owner's cloud refused your SSH key (key pairs refused or unsupported): the server was started "
            "without it, with your user-data only, so log in as your user-data arranges."
        )
    elif access.public_key is None:
        notes.append("You have no SSH key on file: the server was started with your user-data only.")
    if secgroup is None:
        notes.append("This cloud has no security groups (no network service): the server has no firewall of its own.")
    elif not cidrs:
        notes.append("No SSH source addresses were given: nothing can reach SSH on this server.")
    # Only an earlier attempt can have made a server for this booking: the first one skips the lookup.
    existing = (
        [] if first_attempt else [s for s in driver.find_servers_for_booking(booking.pk) if s.status != "DELETED"]
    )
    if existing:
        keep = existing[0]
        if server.external_id and any(s.id == server.external_id for s in existing):
            keep = next(s for s in existing if s.id == server.external_id)
        for extra in existing:
            if extra.id != keep.id:
                driver.delete_server(extra.id)
                record_event(
                    actor=None,
                    verb="server.duplicate_deleted",
                    target=server,
                    data={"booking": booking.pk, "external_id": extra.id},
                )
        cloud_server = keep
        verb = "server.adopted"
    else:
        spec = LaunchSpec(
            name=server.name,
            booking_id=booking.pk,
            flavor_id=flavor_id,
            image_id=image_id,
            keypair_name=keypair,
            security_group_name=secgroup,
            metadata={META_BOOKING: booking_ref(booking.pk)},  # no renter identity on the cloud
            tags=[TAG_MARKETPLACE, booking_tag(booking.pk)],
            user_data=access.user_data,
        )
        cloud_server = driver.create_server(spec)
        verb = "server.created"
    with transaction.atomic():
        if not _update_if_leased(
            server,
            token,
            external_id=cloud_server.id,
            isolation_note=" ".join(notes)[:300],
            keypair_name=keypair or server.keypair_name,
            security_group_name=secgroup or server.security_group_name,
        ):
            raise CloudError("Another worker took this launch over.", transient=False)
        record_event(
            actor=None,
            verb=verb,
            target=server,
            data={"booking": booking.pk, "external_id": cloud_server.id, "isolation": " ".join(notes)},
        )
    if cloud_server.status == "ACTIVE":
        return cloud_server
    return driver.wait_for_status(cloud_server.id, ("ACTIVE",), timeout=active_timeout())


def _launch_failed(server: Server, token: str, booking: Booking, reason: str, driver: CloudDriver) -> Server:
    with transaction.atomic():
        if not _update_if_leased(server, token, state=SS.ERROR, error_message=reason[:500], lease_until=None):
            return Server.objects.get(pk=server.pk)
        record_event(
            actor=None, verb="server.launch_failed", target=server, data={"booking": booking.pk, "reason": reason}
        )
    _move_booking(booking.pk, B.FAILED, reason=reason)
    return server_reclaim(server_id=server.pk, reason="launch failed") or server


def _flat_addresses(addresses: dict[str, Any]) -> list[str]:
    out = []
    for entries in (addresses or {}).values():
        for e in entries or []:
            if isinstance(e, dict) and e.get("addr"):
                out.append(str(e["addr"]))
    return out
