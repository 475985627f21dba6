"""Writes of provisioning: launch, hand over, resize, reclaim, reconcile, meter.

Every cloud action follows the same three steps: record the intent and take a
lease on the Server row (one short transaction, committed), call the cloud
(outside any transaction), record the outcome (one short transaction). A
worker that dies between the steps leaves a leased row; once the lease
expires the next sweep finishes or undoes the work, and launching adopts a
server the cloud already has for the booking (metadata
``marketplace_booking=<id>``), so a booking never gets two servers.

Booking states move only through scheduling.services.booking_transition;
billing learns of failures from the engine's ``on_booking_ended`` hook (and
its own sweep over bookings in ``failed``).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatch
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, DomainError, InvalidTransition, NotFoundError
from owners.models import Cloud
from provisioning.drivers import (
    META_BOOKING,
    TAG_MARKETPLACE,
    CloudDriver,
    CloudError,
    CloudServer,
    LaunchSpec,
    booking_tag,
    driver_for,
    server_name,
)
from provisioning.models import LIVE_STATES, Server, ServerState, UsageSample
from renters.models import SSHPublicKey
from scheduling import services as engine
from scheduling.models import Booking, BookingState

log = logging.getLogger(__name__)
B = BookingState
SS = ServerState

LAUNCHABLE = (B.CONFIRMED, B.PROVISIONING)
HOLDING = (B.PROVISIONING, B.RUNNING, B.NOTICE)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def lead_seconds() -> int:
    return _setting("PROVISIONING_LEAD_SECONDS", 60)


def active_timeout() -> int:
    return _setting("PROVISIONING_ACTIVE_TIMEOUT_SECONDS", 300)


def lease_seconds() -> int:
    return active_timeout() + _setting("PROVISIONING_LEASE_MARGIN_SECONDS", 60)


# ---- small helpers --------------------------------------------------------------------------------


def _move_booking(booking_id: int, to: str, *, reason: str = "", actor: Any = None) -> bool:
    """Ask the engine to move the booking; False if it is already elsewhere (another worker, the renter)."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.state == to:
            return False
        try:
            engine.booking_transition(actor=actor, booking=booking, to=to, reason=reason)
        except (InvalidTransition, ConflictError) as exc:
            log.info("booking %s not moved to %s: %s", booking_id, to, exc)
            return False
    return True


def _take_lease(server: Server, *, now: datetime, state: str | None = None) -> str | None:
    """Lease the row for a cloud action (conditional UPDATE): the token, or None if someone else holds it."""
    token = uuid.uuid4().hex
    values: dict[str, Any] = {
        "lease_until": now + timedelta(seconds=lease_seconds()),
        "lease_token": token,
        "updated_at": now,
    }
    if state:
        values["state"] = state
    won = (
        Server.objects.filter(pk=server.pk, state=server.state)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(**values)
    )
    if not won:
        return None
    for k, v in values.items():
        setattr(server, k, v)
    return token


def _update_if_leased(server: Server, token: str, **values: Any) -> bool:
    values.setdefault("updated_at", clock.now())
    won = Server.objects.filter(pk=server.pk, lease_token=token).update(**values)
    for k, v in values.items():
        setattr(server, k, v)
    return bool(won)


def _readable_failure(exc: CloudError | None, fault: str = "") -> str:
    text = (exc.message if exc else fault) or "the cloud reported an error"
    lowered = text.lower()
    if "no valid host" in lowered or "novalidhost" in lowered or (exc is not None and exc.capacity):
        if "quota" in lowered:
            return (
                "The owner's cloud refused the server: its quota is used up. "
                "The booking was cancelled and will be refunded."
            )
        return (
            "The owner's cloud has no room for this server right now (no valid host). "
            "The booking was cancelled and will be refunded."
        )
    return f"The server could not be started: {text}. The booking was cancelled and will be refunded."[:300]


# ---- launch ---------------------------------------------------------------------------------------


@dataclass
class Prepared:
    server: Server
    token: str


def _predecessor(booking: Booking) -> Booking | None:
    """The renter's booking that ends exactly when this one starts, same offering, profile and image."""
    return (
        Booking.objects.filter(
            renter_id=booking.renter_id,
            offering_id=booking.offering_id,
            profile_id=booking.profile_id,
            ends_at=booking.starts_at,
            state__in=(B.PROVISIONING, B.RUNNING),
        )
        .filter(Q(image=booking.image) | Q(image=""))
        .exclude(pk=booking.pk)
        .order_by("-id")
        .first()
    )


def _successor(booking: Booking) -> Booking | None:
    return (
        Booking.objects.filter(
            renter_id=booking.renter_id,
            offering_id=booking.offering_id,
            profile_id=booking.profile_id,
            starts_at=booking.ends_at,
            state=B.CONFIRMED,
        )
        .filter(Q(image=booking.image) | Q(image=""))
        .exclude(pk=booking.pk)
        .order_by("id")
        .first()
    )


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
            server = Server.objects.create(
                booking=booking,
                cloud=booking.offering.cloud,
                state=SS.PENDING,
                name=name,
                flavor_name=booking.profile.flavor_name,
                image_name=booking.image or (booking.offering.allowed_images or [""])[0],
                keypair_name=keypair,
                security_group_name=name,
                created_at=now,
                updated_at=now,
            )
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
    if not _move_booking(booking.pk, B.RUNNING):
        # The booking ended while we launched (released, preempted): give the server back now.
        current = Booking.objects.only("state").get(pk=booking.pk).state
        if current not in (B.RUNNING, B.NOTICE):
            server_reclaim(server_id=locked.pk, reason=f"booking is {current}")
    return locked


def _launch_cloud(driver: CloudDriver, server: Server, booking: Booking, token: str) -> CloudServer:
    caps = driver.capabilities()
    notes: list[str] = []
    flavor_id = driver.ensure_flavor(
        name=booking.profile.flavor_name, vcpus=booking.vcpus, ram_mib=booking.ram_mib, disk_gb=booking.disk_gb
    )
    image_id = driver.find_image(server.image_name)
    key = SSHPublicKey.objects.filter(user_id=booking.renter_id).order_by("-created_at", "-id").first()
    first_attempt = server.attempts <= 1 and not server.external_id

    def make_keypair() -> str | None:
        return driver.ensure_keypair(name=server.keypair_name, public_key=key.public_key) if key else None

    def make_group() -> str | None:
        return driver.ensure_security_group(
            name=server.security_group_name,
            description=f"Marketplace booking {booking.pk}: SSH and ping from anywhere, nothing else.",
            fresh=first_attempt,
        )

    if caps.parallel_calls and caps.keypairs and caps.security_groups:
        # Two services (compute, network), no dependency between them: one round trip instead of two.
        with ThreadPoolExecutor(max_workers=2) as pool:
            kp_future, sg_future = pool.submit(make_keypair), pool.submit(make_group)
            keypair, secgroup = kp_future.result(), sg_future.result()
    else:
        keypair = make_keypair() if caps.keypairs else None
        secgroup = make_group() if caps.security_groups else None
    if key is None:
        notes.append("You have no SSH key on file: add one before your next booking to log in.")
    elif keypair is None:
        notes.append("Your SSH key could not be installed on this cloud (key pairs refused or unsupported).")
    if secgroup is None:
        notes.append("This cloud has no security groups (no network service): the server has no firewall of its own.")
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
            metadata={META_BOOKING: str(booking.pk), "marketplace_renter": str(booking.renter_id)},
            tags=[TAG_MARKETPLACE, booking_tag(booking.pk)],
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


# ---- hand over (adjacent slices) -------------------------------------------------------------------


def server_hand_over(*, from_booking_id: int, to_booking_id: int, now: datetime | None = None) -> Server | None:
    """The renter's next booking takes the running server: no reclaim, no relaunch. Idempotent."""
    now = now or clock.now()
    with transaction.atomic():
        first, second = sorted([from_booking_id, to_booking_id])
        locked = {b.pk: b for b in Booking.objects.select_for_update().filter(pk__in=[first, second]).order_by("id")}
        old_b, new_b = locked.get(from_booking_id), locked.get(to_booking_id)
        if old_b is None or new_b is None or new_b.state != B.CONFIRMED or old_b.state not in (B.RUNNING,):
            return None
        old = Server.objects.select_for_update().filter(booking=old_b, state=SS.ACTIVE).first()
        if old is None or (old.lease_until and old.lease_until > now):
            return None
        at = old_b.ends_at
        old.state, old.held_until, old.updated_at = SS.HANDED_OVER, at, now
        old.save(update_fields=["state", "held_until", "updated_at"])
        new = Server.objects.create(
            booking=new_b,
            cloud_id=old.cloud_id,
            state=SS.ACTIVE,
            name=old.name,
            external_id=old.external_id,
            flavor_name=old.flavor_name,
            image_name=old.image_name,
            addresses=old.addresses,
            keypair_name=old.keypair_name,
            security_group_name=old.security_group_name,
            isolation_note=old.isolation_note,
            held_from=at,
            predecessor=old,
            created_at=now,
            updated_at=now,
            active_at=now,
        )
        record_event(
            actor=None,
            verb="server.handed_over",
            target=new,
            data={"from_booking": old_b.pk, "to_booking": new_b.pk, "external_id": old.external_id},
        )
        engine.booking_transition(actor=None, booking=old_b, to=B.COMPLETED, reason="Slice ended.")
        engine.booking_transition(actor=None, booking=new_b, to=B.RUNNING, reason="Kept the renter's server.")
    try:
        driver_for(new.cloud).set_booking(new.external_id or "", new_b.pk, [TAG_MARKETPLACE, booking_tag(new_b.pk)])
    except CloudError as exc:  # the Server row is the truth; metadata only helps adoption
        log.warning("could not re-tag server %s for booking %s: %s", new.external_id, new_b.pk, exc.message)
    return new


# ---- reclaim --------------------------------------------------------------------------------------


def server_reclaim(*, server_id: int, reason: str = "", actor: Any = None) -> Server | None:
    """Delete the cloud server, its key pair and security group; the row ends ``deleted``. Idempotent.

    The renter stops being charged when the reclaim is decided (held_until), not when the cloud finishes.
    """
    now = clock.now()
    with transaction.atomic():
        server = Server.objects.select_for_update(skip_locked=True).filter(pk=server_id).first()
        if server is None or server.state not in LIVE_STATES:
            return server
        if server.lease_until and server.lease_until > now and server.state != SS.ERROR:
            return None  # a launch, resize or another reclaim is at work; the sweep comes back
        token = uuid.uuid4().hex
        server.state = SS.DELETING
        server.held_until = server.held_until or (now if server.held_from else None)
        server.lease_until = now + timedelta(seconds=lease_seconds())
        server.lease_token = token
        server.updated_at = now
        server.save(update_fields=["state", "held_until", "lease_until", "lease_token", "updated_at"])
        record_event(
            actor=actor,
            verb="server.reclaim_requested",
            target=server,
            data={"booking": server.booking_id, "external_id": server.external_id, "reason": reason},
        )
    driver = driver_for(server.cloud)
    ids = {server.external_id} if server.external_id else set()
    try:
        # Also anything the cloud has for this booking (a launch killed before it recorded the id),
        # unless one launch attempt made exactly the server we know.
        if not (server.external_id and server.attempts == 1):
            ids |= {s.id for s in driver.find_servers_for_booking(server.booking_id)}
        successor_ids = set(
            Server.objects.filter(state__in=LIVE_STATES, external_id__in=ids)
            .exclude(pk=server.pk)
            .values_list("external_id", flat=True)
        )
        for ext in sorted(ids - successor_ids):
            driver.delete_server(ext)
        shared = Server.objects.filter(state__in=LIVE_STATES).exclude(pk=server.pk)
        if server.keypair_name and not shared.filter(keypair_name=server.keypair_name).exists():
            driver.delete_keypair(server.keypair_name)  # a key pair is not in use once the delete is asked
        for ext in sorted(ids - successor_ids):
            driver.wait_for_delete(ext, timeout=_setting("PROVISIONING_DELETE_TIMEOUT_SECONDS", 120))
        if server.security_group_name and not shared.filter(security_group_name=server.security_group_name).exists():
            driver.delete_security_group(server.security_group_name)
    except CloudError as exc:
        _update_if_leased(server, token, lease_until=None, error_message=exc.message[:500])
        raise
    with transaction.atomic():
        _update_if_leased(server, token, state=SS.DELETED, deleted_at=clock.now(), lease_until=None, lease_token="")
        record_event(
            actor=actor,
            verb="server.deleted",
            target=server,
            data={"booking": server.booking_id, "external_ids": sorted(ids), "reason": reason},
        )
    return server


def booking_reclaim(*, booking_id: int, reason: str = "") -> int:
    """Reclaim every live server of a booking (after release, preemption, failure, completion)."""
    done = 0
    for pk in Server.objects.filter(booking_id=booking_id, state__in=LIVE_STATES).values_list("pk", flat=True):
        if server_reclaim(server_id=pk, reason=reason) is not None:
            done += 1
    return done


# ---- sweeps (beat) ---------------------------------------------------------------------------------


def launch_due(*, now: datetime | None = None, batch: int = 200) -> list[int]:
    """Bookings whose server should be launched now (or whose launch died with its worker)."""
    now = now or clock.now()
    horizon = now + timedelta(seconds=lead_seconds())
    leased = Server.objects.filter(state__in=LIVE_STATES, lease_until__gt=now).values("booking_id")
    up = Server.objects.filter(state__in=(SS.ACTIVE, SS.RESIZING, SS.DELETING, SS.ERROR)).values("booking_id")
    with transaction.atomic():
        ids = list(
            Booking.objects.select_for_update(skip_locked=True)
            .filter(state__in=LAUNCHABLE, starts_at__lte=horizon, ends_at__gt=now)
            .exclude(pk__in=leased)
            .exclude(pk__in=up)
            .order_by("starts_at", "id")
            .values_list("pk", flat=True)[:batch]
        )
    return ids


def end_due(*, now: datetime | None = None, batch: int = 200) -> list[int]:
    """End bookings whose slice is over: hand the server to the renter's next slice, or complete/fail them.

    Returns the ids of servers to reclaim.
    """
    now = now or clock.now()
    engine.preemptions_end_due()  # notice -> preempted at the deadline (the engine's rule; idempotent)
    with transaction.atomic():
        due = list(
            Booking.objects.select_for_update(skip_locked=True)
            .filter(state__in=(B.CONFIRMED, B.PROVISIONING, B.RUNNING, B.NOTICE), ends_at__lte=now)
            .order_by("ends_at", "id")[:batch]
        )
    for booking in due:
        nxt = _successor(booking) if booking.state == B.RUNNING else None
        if nxt is not None and server_hand_over(from_booking_id=booking.pk, to_booking_id=nxt.pk, now=now):
            continue
        if booking.state in (B.RUNNING, B.NOTICE):
            _move_booking(booking.pk, B.COMPLETED, reason="Slice ended.")
        else:
            _move_booking(
                booking.pk,
                B.FAILED,
                reason="The server was not ready before the slice ended. "
                "The booking was cancelled and will be refunded.",
            )
    # Hand-overs that are due at the next slice's start (the end sweep may not have run yet).
    for booking in Booking.objects.filter(state=B.CONFIRMED, starts_at__lte=now, ends_at__gt=now)[:batch]:
        pred = _predecessor(booking)
        if pred is not None and pred.state == B.RUNNING:
            server_hand_over(from_booking_id=pred.pk, to_booking_id=booking.pk, now=now)
    return reclaim_due(now=now, batch=batch)


def reclaim_due(*, now: datetime | None = None, batch: int = 200) -> list[int]:
    """Live servers whose booking has ended, or whose reclaim died with its worker."""
    now = now or clock.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    ended = Q(
        booking__state__in=[
            s for s in B.values if s not in (B.CONFIRMED, B.PROVISIONING, B.RUNNING, B.NOTICE, B.REQUESTED)
        ]
    )
    with transaction.atomic():
        ids = list(
            Server.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state__in=LIVE_STATES)
            .filter(free)
            .filter(ended | Q(state=SS.DELETING) | Q(state=SS.ERROR))
            .order_by("id")
            .values_list("pk", flat=True)[:batch]
        )
    return ids


# ---- reconcile ------------------------------------------------------------------------------------


@dataclass
class ReconcileResult:
    orphans_deleted: list[str]
    bookings_failed: list[int]
    clouds_checked: int
    errors: list[str]
    leftovers_deleted: list[str] = field(default_factory=list)


def reconcile(*, now: datetime | None = None) -> ReconcileResult:
    """Make the clouds and the Server rows agree. Audited action by action.

    - a cloud server tagged by the marketplace that no live Server row claims is deleted;
    - a running booking whose server vanished or went to ERROR fails (the engine tells billing to refund).
    """
    now = now or clock.now()
    result = ReconcileResult([], [], 0, [])
    # Every cloud the marketplace has used or sells on (a killed worker can leave a server on either).
    cloud_ids = set(Server.objects.values_list("cloud_id", flat=True).distinct())
    selling = Q(offerings__status__in=("published", "paused"))
    for cloud in Cloud.objects.filter(Q(pk__in=cloud_ids) | selling).distinct().order_by("id"):
        result.clouds_checked += 1
        try:
            _reconcile_cloud(cloud, now, result)
        except CloudError as exc:
            result.errors.append(f"{cloud.name}: {exc.message}")
            log.warning("reconcile of cloud %s failed: %s", cloud.pk, exc.message)
    return result


def _reconcile_cloud(cloud: Cloud, now: datetime, result: ReconcileResult) -> None:
    driver = driver_for(cloud)
    listed = {s.id: s for s in driver.list_marketplace_servers()}
    tracked = set(
        Server.objects.filter(cloud=cloud, state__in=LIVE_STATES, external_id__isnull=False).values_list(
            "external_id", flat=True
        )
    )
    launching = set(
        Server.objects.filter(
            cloud=cloud, state__in=(SS.PENDING, SS.BUILDING), external_id__isnull=True, booking__state__in=LAUNCHABLE
        ).values_list("booking_id", flat=True)
    )
    for ext, cs in listed.items():
        if ext in tracked or cs.status == "DELETED":
            continue
        if cs.booking_id is not None and cs.booking_id in launching:
            continue  # a launch is recording it right now (or will adopt it on retry)
        driver.delete_server(ext)
        with transaction.atomic():
            record_event(
                actor=None,
                verb="server.orphan_deleted",
                target=cloud,
                data={"external_id": ext, "name": cs.name, "booking": cs.booking_id, "status": cs.status},
            )
        result.orphans_deleted.append(ext)
    # Key pairs and security groups this installation made (named on its Server rows) that no live row
    # uses any more: left behind when a reclaim could not finish. Names it never made are not ours.
    rows = Server.objects.filter(cloud=cloud)
    live = rows.filter(state__in=LIVE_STATES)
    ended = rows.exclude(state__in=LIVE_STATES)
    ours_kp = set(ended.values_list("keypair_name", flat=True)) - set(live.values_list("keypair_name", flat=True))
    ours_sg = set(ended.values_list("security_group_name", flat=True)) - set(
        live.values_list("security_group_name", flat=True)
    )
    leftovers = [f"keypair:{n}" for n in driver.list_marketplace_keypairs() if n in ours_kp]
    leftovers += [f"security_group:{n}" for n in driver.list_marketplace_security_groups() if n in ours_sg]
    for item in leftovers:
        kind, _, name = item.partition(":")
        (driver.delete_keypair if kind == "keypair" else driver.delete_security_group)(name)
    if leftovers:
        result.leftovers_deleted.extend(leftovers)
        with transaction.atomic():
            record_event(actor=None, verb="server.leftovers_deleted", target=cloud, data={"deleted": leftovers})
    # Servers we believe up that the cloud lost or broke.
    watched = Server.objects.filter(cloud=cloud, state__in=(SS.ACTIVE, SS.RESIZING), external_id__isnull=False)
    watched = watched.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).select_related("booking")
    for server in watched:
        seen: CloudServer | None = listed.get(server.external_id or "")
        if seen is None:
            seen = driver.get_server(server.external_id or "")  # not tagged (e.g. tags unsupported)?
        gone = seen is None or seen.status in ("DELETED", "SOFT_DELETED")  # listed while Nova finishes a delete
        if not gone and seen is not None and seen.status != "ERROR":
            continue
        what = "vanished from the cloud" if gone else "went to ERROR in the cloud"
        reason = f"Your server {what}. The booking was ended and the unused time will be refunded."
        with transaction.atomic():
            locked = Server.objects.select_for_update().get(pk=server.pk)
            if locked.state not in (SS.ACTIVE, SS.RESIZING):
                continue
            locked.state, locked.error_message, locked.updated_at = SS.ERROR, reason, now
            locked.held_until = locked.held_until or now
            locked.save(update_fields=["state", "error_message", "held_until", "updated_at"])
            record_event(
                actor=None,
                verb="server.lost",
                target=locked,
                data={"booking": locked.booking_id, "external_id": locked.external_id, "what": what},
            )
        if _move_booking(server.booking_id, B.FAILED, reason=reason):
            result.bookings_failed.append(server.booking_id)
        server_reclaim(server_id=server.pk, reason=what)


# ---- resize ---------------------------------------------------------------------------------------


def booking_change_profile(*, actor: Any, booking_id: int, profile_id: int) -> Server:
    """A renter changes a running booking's profile: the engine moves the claim and reprices the rest
    of the booking (scheduling.services.booking_change_profile: its rules, capacity check and audit),
    and the server is leased for the resize that server_resize_run then does and confirms.
    """
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is None or booking.renter_id != getattr(actor, "pk", None):
        raise NotFoundError("No such booking.")
    now = clock.now()
    try:
        with transaction.atomic():
            locked = Booking.objects.select_for_update().get(pk=booking.pk)
            if locked.state != B.RUNNING:
                raise InvalidTransition(f"Only a running booking can change profile (this one is {locked.state}).")
            server = Server.objects.select_for_update().filter(booking=locked, state=SS.ACTIVE).first()
            if server is None:
                raise ConflictError("The booking's server is not active; try again in a moment.")
            engine.booking_change_profile(actor=actor, booking_id=locked.pk, profile_id=profile_id)
            token = _take_lease(server, now=now, state=SS.RESIZING)
            if token is None:
                raise ConflictError("The server is busy; try again in a moment.")
    except IntegrityError as exc:
        if engine.is_capacity_violation(exc):
            raise ConflictError("The offering has no capacity left for that profile during your slice.") from exc
        raise
    return server


def server_resize_run(*, server_id: int) -> Server:
    """Resize the cloud server to its booking's profile and confirm; on refusal, restore the old profile."""
    server = Server.objects.select_related("booking__profile", "cloud").get(pk=server_id)
    if server.state != SS.RESIZING:
        return server
    token = server.lease_token
    booking = server.booking
    driver = driver_for(server.cloud)
    flavor = booking.profile.flavor_name
    try:
        flavor_id = driver.ensure_flavor(
            name=flavor, vcpus=booking.vcpus, ram_mib=booking.ram_mib, disk_gb=booking.disk_gb
        )
        current = driver.get_server(server.external_id or "")
        if current is not None and current.flavor_name != flavor:
            if current.status == "ACTIVE":
                driver.resize_server(server.external_id or "", flavor_id)
            current = driver.wait_for_status(
                server.external_id or "", ("VERIFY_RESIZE", "ACTIVE"), timeout=active_timeout()
            )
            if current.status == "VERIFY_RESIZE":
                driver.confirm_resize(server.external_id or "")
                current = driver.wait_for_status(server.external_id or "", ("ACTIVE",), timeout=active_timeout())
        if current is None:
            raise CloudError("The server vanished during the resize.", not_found=True)
        if current.flavor_name and current.flavor_name != flavor:
            raise CloudError(
                current.fault or "The cloud did not resize the server (no room for the new flavor).", capacity=True
            )
    except CloudError as exc:
        if exc.transient:
            raise
        _resize_refused(server, token, exc)
        return server
    with transaction.atomic():
        _update_if_leased(
            server,
            token,
            state=SS.ACTIVE,
            flavor_name=flavor,
            lease_until=None,
            lease_token="",
            addresses=current.addresses or server.addresses,
        )
        record_event(
            actor=None,
            verb="server.resized",
            target=server,
            data={"booking": booking.pk, "flavor": flavor, "external_id": server.external_id},
        )
    return server


def _resize_refused(server: Server, token: str, exc: CloudError) -> None:
    """Put the booking back on the profile (and price) it had: the server still has that flavor."""
    with transaction.atomic():
        engine.booking_profile_change_undo(
            actor=None, booking_id=server.booking_id, reason=f"The cloud refused the resize: {exc.message}"
        )
        _update_if_leased(
            server,
            token,
            state=SS.ACTIVE,
            lease_until=None,
            lease_token="",
            error_message=f"Resize refused: {exc.message}"[:500],
        )
        record_event(
            actor=None,
            verb="server.resize_refused",
            target=server,
            data={"booking": server.booking_id, "reason": exc.message},
        )


# ---- metering -------------------------------------------------------------------------------------


def _num(raw: dict[str, Any], *patterns: str) -> int | None:
    """Sum of the numeric counters whose key matches one of the glob patterns (None if none does)."""
    values = [
        int(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and any(fnmatch(k, p) for p in patterns)
    ]
    return sum(values) if values else None


def _parse_diagnostics(raw: dict[str, Any]) -> dict[str, int | None]:
    """Nova's legacy diagnostics keys (cpu0_time, memory, vda_read, vnet0_rx, ...) to our counters."""
    memory_kib = _num(raw, "memory")
    return {
        "cpu_time_ns": _num(raw, "cpu*_time"),
        "memory_mib": memory_kib // 1024 if memory_kib is not None else None,
        "disk_read_bytes": _num(raw, "vd*_read", "sd*_read"),
        "disk_write_bytes": _num(raw, "vd*_write", "sd*_write"),
        "net_rx_bytes": _num(raw, "vnet*_rx", "tap*_rx"),
        "net_tx_bytes": _num(raw, "vnet*_tx", "tap*_tx"),
    }


def server_meter(*, server_id: int, now: datetime | None = None) -> UsageSample | None:
    """Take one usage sample of a running server. Skipped if the last one is younger than the interval."""
    now = now or clock.now()
    server = Server.objects.select_related("cloud", "booking").filter(pk=server_id, state=SS.ACTIVE).first()
    if server is None or not server.external_id:
        return None
    interval = _setting("METERING_INTERVAL_SECONDS", 60)
    last = UsageSample.objects.filter(server=server).order_by("-at").values_list("at", flat=True).first()
    if last is not None and (now - last).total_seconds() < interval * 0.9:
        return None
    raw = driver_for(server.cloud).diagnostics(server.external_id)
    return UsageSample.objects.create(
        server=server, booking_id=server.booking_id, at=now, raw=raw, **_parse_diagnostics(raw)
    )


def meter_due() -> list[int]:
    return list(
        Server.objects.filter(state=SS.ACTIVE, booking__state__in=(B.RUNNING, B.NOTICE), external_id__isnull=False)
        .order_by("id")
        .values_list("pk", flat=True)
    )


def _flat_addresses(addresses: dict[str, Any]) -> list[str]:
    out = []
    for entries in (addresses or {}).values():
        for e in entries or []:
            if isinstance(e, dict) and e.get("addr"):
                out.append(str(e["addr"]))
    return out


__all__ = [
    "DomainError",
    "booking_change_profile",
    "booking_reclaim",
    "end_due",
    "launch_due",
    "launch_prepare",
    "meter_due",
    "reclaim_due",
    "reconcile",
    "server_hand_over",
    "server_launch",
    "server_meter",
    "server_reclaim",
    "server_resize_run",
]
