"""Delivery to the second: standby servers, control transfer by rebuild, the start and end of a slice.

A slice is served, in this order of preference, from
1. the renter's own server of the adjacent slice before (handover.py: nothing happens on the cloud);
2. a standby server of the offering's warm pool (owners.StandbyPool) for the slice's profile and
   image: taken just before the slice starts (its rebuild estimate ahead) and **rebuilt** with the
   renter's key and user-data, which also gives it a fresh disk, so it is usable at the start;
3. the server another renter's slice leaves at this start: rebuilt for this renter at the boundary
   (one rebuild both wipes and transfers), so two back-to-back renters on a full offering need one
   server, never two;
4. a fresh launch (launch.py), when the offering's cloud has room for one more server: every live
   Server row is a physical claim (provisioning/sql/server_capacity.sql), so a boot ahead of the
   slice, or a server being wiped or deleted after one, never makes the cloud hold more than the
   offering's capacity.

When a slice ends its server is given, in this order, to the renter's adjacent slice (handover), to
a slice of another renter starting now that has no server yet (rebuilt for them), back to the
standby pool when it is short (rebuilt with no key: wiped), or deleted. Whoever held the server
loses it the moment the cloud accepts the rebuild or the delete (``revoked_at``). No server ever
passes to a second holder without a rebuild.

Every tenure is its own Server row (booking, or none for the pool): the old row ends
``handed_over`` and a new row carries the same cloud id, in one transaction, before the cloud is
called; a worker killed mid-transfer leaves a leased row that the sweep takes up again (the rebuild is
repeated for the same holder), so no server is ever given to two renters or lost.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from audit.services import record_event
from marketplace.lib import clock, enqueue
from owners.models import StandbyPool
from provisioning.access import renter_access
from provisioning.drivers import META_BOOKING, NAME_PREFIX, CloudError, booking_ref, driver_for
from provisioning.models import LIVE_STATES, Server, ServerState
from provisioning.services.common import (
    LAUNCHABLE,
    _move_booking,
    _readable_failure,
    _take_lease,
    _update_if_leased,
    active_timeout,
    claim_server,
    lead_seconds,
    lease_seconds,
)
from provisioning.services.handover import _hands_over, _predecessor, _successor, awaits_hand_over, server_hand_over
from provisioning.services.launch import _launch_run, launch_prepare
from provisioning.services.metering import meter_final, meter_start_at
from provisioning.services.reclaim import server_reclaim
from scheduling import services as engine
from scheduling.models import CLAIMING_STATES, Booking, BookingState

log = logging.getLogger(__name__)
B = BookingState
SS = ServerState

META_POOL = "marketplace_pool"
STANDBY_PREFIX = "mkt-standby-"
POOL_STATES = (SS.PENDING, SS.BUILDING, SS.STANDBY, SS.WIPING)


def _float_setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def margin_seconds() -> float:
    """How much earlier than the estimate a transfer starts (worker pick-up, the cloud's jitter)."""
    return _float_setting("PROVISIONING_TRANSFER_MARGIN_SECONDS", 0.4)


def rebuild_estimate(cloud_id: int) -> float:
    """Seconds a rebuild takes on this cloud: measured (a moving average), or the setting until then."""
    measured = cache.get(f"provisioning:rebuild-seconds:{cloud_id}")
    return float(measured) if measured is not None else _float_setting("PROVISIONING_REBUILD_ESTIMATE_SECONDS", 2.0)


def _record_rebuild(cloud_id: int, seconds: float) -> None:
    old = cache.get(f"provisioning:rebuild-seconds:{cloud_id}")
    new = seconds if old is None else 0.7 * float(old) + 0.3 * seconds
    cache.set(f"provisioning:rebuild-seconds:{cloud_id}", round(new, 3), timeout=7 * 86400)


@dataclass
class Delivery:
    """What the start step did: ``action`` and, when it must look again, ``retry_at``."""

    action: str  # none, handover, wait, transferred, launched
    retry_at: datetime | None = None
    server: Server | None = None


def keypair_name(booking_id: int) -> str:
    """The key pair a booking's server carries: stable (made ahead of a transfer), no booking id in it."""
    return f"{NAME_PREFIX}{booking_ref(booking_id, 'keypair', 16)}"


def _image_id(server: Server) -> str:
    """The cloud's id of the server's image, shared by every worker process (a rebuild needs it at once)."""
    key = f"provisioning:image:{server.cloud_id}:{server.image_name}"
    found = cache.get(key)
    if found:
        return str(found)
    found = driver_for(server.cloud).find_image(server.image_name)
    cache.set(key, found, timeout=300)
    return found


def _ensure_keypair(server: Server, public_key: str) -> str | None:
    """The renter's key pair on the cloud (made once: a transfer at a slice's end does not wait for it)."""
    key = f"provisioning:keypair:{server.cloud_id}:{server.keypair_name}"
    if cache.get(key) == hashlib.sha256(public_key.encode()).hexdigest():
        return server.keypair_name
    made = driver_for(server.cloud).ensure_keypair(name=server.keypair_name, public_key=public_key)
    if made:
        cache.set(key, hashlib.sha256(public_key.encode()).hexdigest(), timeout=3600)
    return made


def _prestage(booking: Booking, server_like: Server) -> None:
    """Before a boundary transfer: make the renter's key pair and look up the image, so the rebuild
    (which is what ends the previous renter's access) is the first cloud call at the boundary."""
    try:
        access = renter_access(booking)
    except CloudError:
        return
    staged = Server(cloud=server_like.cloud, cloud_id=server_like.cloud_id, keypair_name=keypair_name(booking.pk))
    staged.image_name = booking.image or server_like.image_name
    try:
        if access.public_key:
            _ensure_keypair(staged, access.public_key)
        _image_id(staged)
    except CloudError as exc:  # the transfer makes them itself
        log.info("could not prepare the transfer for booking %s: %s", booking.pk, exc.message)


# ---- the start of a slice -------------------------------------------------------------------------


def _standby_for(booking: Booking) -> Any:
    """Idle standby servers that can serve the booking: same offering and profile, its image (or any)."""
    image = booking.image or (booking.offering.allowed_images or [""])[0]
    return Server.objects.filter(
        offering_id=booking.offering_id,
        booking__isnull=True,
        state=SS.STANDBY,
        pool__profile_id=booking.profile_id,
    ).filter(Q(image_name=image) | Q(image_name="") if not image else Q(image_name=image))


def _leaving_for(booking: Booking) -> Any:
    """Servers of other slices on the offering, same profile, ending when this one starts."""
    return Server.objects.filter(
        offering_id=booking.offering_id,
        state=SS.ACTIVE,
        booking__profile_id=booking.profile_id,
        booking__ends_at__lte=booking.starts_at,
        booking__ends_at__gt=booking.starts_at - timedelta(seconds=lead_seconds()),
    ).exclude(booking__renter_id=booking.renter_id, booking__ends_at=booking.starts_at)


def booking_deliver(*, booking_id: int, now: datetime | None = None) -> Delivery:
    """The start step of a slice (scheduled at its instant, the sweeps are the backstop). Idempotent.

    Returns what it did; ``retry_at`` tells the caller when to look again (a standby server is
    taken only its rebuild estimate before the start, so the renter does not get it early; a
    server another slice leaves at this start is transferred by that slice's end step).
    """
    now = now or clock.now()
    booking = Booking.objects.select_related("offering__cloud", "profile").filter(pk=booking_id).first()
    if booking is None or booking.state not in LAUNCHABLE or booking.ends_at <= now:
        return Delivery("none")
    existing = Server.objects.filter(booking=booking, state__in=LIVE_STATES).first()
    if existing is not None:
        if existing.lease_until is not None and existing.lease_until > now:
            return Delivery("none")  # a launch or a transfer is at work
        if existing.state == SS.TRANSFERRING and _take_lease(existing, now=now) is not None:
            # Its worker died mid-transfer: rebuild again for the same renter (never anyone else).
            return Delivery("transferred", server=_transfer_run(existing))
        if existing.state not in (SS.PENDING, SS.BUILDING):
            return Delivery("none")
        return _launch(booking, now)  # a launch that died with its worker: launch_prepare resumes it
    pred = _predecessor(booking)
    if pred is not None and Server.objects.filter(booking=pred, state__in=LIVE_STATES).exists():
        return Delivery("handover", retry_at=booking.starts_at)  # the renter keeps their server
    take_at = booking.starts_at - timedelta(seconds=rebuild_estimate(booking.offering.cloud_id) + margin_seconds())
    if _standby_for(booking).exists():
        if now < take_at:
            return Delivery("wait", retry_at=take_at)
        server = _take_standby(booking, now)
        if server is not None:
            return Delivery("transferred", server=_transfer_run(server))
    leaving = _leaving_for(booking).select_related("cloud").first()
    if now < booking.starts_at + timedelta(seconds=1) and leaving is not None:
        _prestage(booking, leaving)
        return Delivery("wait", retry_at=booking.starts_at + timedelta(seconds=1))
    if now < booking.starts_at - timedelta(seconds=lead_seconds()):
        return Delivery("wait", retry_at=booking.starts_at - timedelta(seconds=lead_seconds()))
    return _launch(booking, now)


def _launch(booking: Booking, now: datetime) -> Delivery:
    prepared = launch_prepare(booking_id=booking.pk, now=now)
    if prepared is None:
        if Server.objects.filter(booking=booking, state__in=LIVE_STATES).exists():
            return Delivery("none")
        return Delivery("wait", retry_at=now + timedelta(seconds=1))  # the cloud is full: look again
    return Delivery("launched", server=_launch_run(prepared))


def _new_tenure(old: Server, *, booking: Booking | None, state: str, now: datetime, **extra: Any) -> Server:
    """End ``old``'s tenure (handed over) and start the next holder's on the same cloud server."""
    old.state, old.held_until, old.updated_at = SS.HANDED_OVER, old.held_until or now, now
    old.save(update_fields=["state", "held_until", "updated_at"])
    new = Server(
        booking=booking,
        cloud_id=old.cloud_id,
        offering_id=old.offering_id,
        pool_id=extra.pop("pool_id", old.pool_id),
        vcpus=old.vcpus,
        ram_mib=old.ram_mib,
        disk_gb=old.disk_gb,
        bandwidth_mbps=old.bandwidth_mbps,
        state=state,
        name=old.name,
        external_id=old.external_id,
        flavor_name=old.flavor_name,
        image_name=extra.pop("image_name", old.image_name),
        addresses=old.addresses,
        keypair_name=extra.pop("keypair_name", ""),
        security_group_name=old.security_group_name,
        predecessor=old,
        created_at=now,
        updated_at=now,
        lease_until=now + timedelta(seconds=lease_seconds()),
        lease_token=secrets.token_hex(16),
        attempts=1,
        **extra,
    )
    if not claim_server(new):  # cannot happen (the old row's claim passed to it), but never ignore it
        raise CloudError("The offering's servers would exceed its capacity.")
    return new


def _take_standby(booking: Booking, now: datetime) -> Server | None:
    """Take an idle standby server for the booking (booking -> provisioning). Commits. None if none left."""
    with transaction.atomic():
        locked = Booking.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=booking.pk).first()
        if locked is None or locked.state not in LAUNCHABLE:
            return None
        standby = (
            _standby_for(booking)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("active_at", "id")
            .first()
        )
        if standby is None:
            return None
        server = _new_tenure(
            standby,
            booking=locked,
            state=SS.TRANSFERRING,
            now=now,
            keypair_name=keypair_name(locked.pk),
            image_name=booking.image or standby.image_name,
        )
        record_event(
            actor=None,
            verb="server.transfer_requested",
            target=server,
            data={"booking": locked.pk, "from": "standby", "external_id": server.external_id},
        )
        if locked.state == B.CONFIRMED:
            engine.booking_transition(actor=None, booking=locked, to=B.PROVISIONING)
        pool_id = standby.pool_id
    if pool_id:
        enqueue.send("provisioning.refill_pool", pool_id)
    return server


def _transfer_run(server: Server) -> Server:
    """Rebuild the server with its booking's renter's key and user-data; then it is theirs (running)."""
    assert server.booking_id is not None
    booking = Booking.objects.select_related("offering__cloud", "profile").get(pk=server.booking_id)
    driver = driver_for(server.cloud)
    token = server.lease_token
    started = clock.now()
    try:
        access = renter_access(booking)  # the renter's key, user-data (decrypted here only) and SSH sources
        keypair = _ensure_keypair(server, access.public_key) if access.public_key else None
        if keypair is None and not access.user_data:
            reason = (
                "Your SSH key could not be installed on the owner's cloud, and a server nobody can log into "
                "is no use: the booking was cancelled and will be refunded."
            )
            return _transfer_failed(server, token, booking, reason)
        _final_sample(server)
        driver.rebuild_server(
            server.external_id or "",
            image_id=_image_id(server),
            keypair_name=keypair,
            user_data=access.user_data,
            metadata={META_BOOKING: booking_ref(booking.pk)},
        )
        _revoked(server)
        if server.security_group_name and driver.capabilities().security_groups:
            # The new holder's SSH sources replace the previous holder's (standby: nothing got in).
            driver.set_ssh_sources(name=server.security_group_name, cidrs=tuple(access.ssh_cidrs))
        seen = driver.wait_for_status(server.external_id or "", ("ACTIVE",), timeout=active_timeout())
    except CloudError as exc:
        if exc.transient:
            _update_if_leased(server, token, lease_until=None, error_message=exc.message[:500])
            raise
        return _transfer_failed(server, token, booking, _readable_failure(exc))
    if seen.status != "ACTIVE":
        return _transfer_failed(server, token, booking, _readable_failure(None, seen.fault))
    now = clock.now()
    _record_rebuild(server.cloud_id, (now - started).total_seconds())
    with transaction.atomic():
        locked = Server.objects.select_for_update().get(pk=server.pk)
        if locked.lease_token != token:
            return locked
        locked.state, locked.active_at, locked.addresses = SS.ACTIVE, now, seen.addresses or locked.addresses
        locked.held_from = max(now, booking.starts_at)
        locked.lease_until, locked.lease_token, locked.error_message, locked.updated_at = None, "", "", now
        locked.save(
            update_fields=[
                "state",
                "active_at",
                "addresses",
                "held_from",
                "lease_until",
                "lease_token",
                "error_message",
                "updated_at",
            ]
        )
        record_event(
            actor=None,
            verb="server.transferred",
            target=locked,
            data={
                "booking": booking.pk,
                "external_id": locked.external_id,
                "seconds": round((now - started).total_seconds(), 3),
            },
        )
    meter_start_at(server_id=locked.pk, at=booking.starts_at)
    if not _move_booking(booking.pk, B.RUNNING):
        current = Booking.objects.only("state").get(pk=booking.pk).state
        if current not in (B.RUNNING, B.NOTICE):
            server_release(server_id=locked.pk, reason=f"booking is {current}")
    return locked


def _transfer_failed(server: Server, token: str, booking: Booking, reason: str) -> Server:
    with transaction.atomic():
        if not _update_if_leased(server, token, state=SS.ERROR, error_message=reason[:500], lease_until=None):
            return Server.objects.get(pk=server.pk)
        record_event(
            actor=None, verb="server.transfer_failed", target=server, data={"booking": booking.pk, "reason": reason}
        )
    _move_booking(booking.pk, B.FAILED, reason=reason)
    return server_reclaim(server_id=server.pk, reason="transfer failed") or server


# ---- the end of a slice ---------------------------------------------------------------------------


def _waiting_booking(server: Server, now: datetime) -> Booking | None:
    """A slice of the same offering and profile starting about now that has no server yet (locked)."""
    assert server.booking is not None and server.offering_id is not None
    live = Server.objects.filter(booking_id=OuterRef("pk"), state__in=LIVE_STATES)
    window = timedelta(seconds=rebuild_estimate(server.cloud_id) + margin_seconds())
    return (
        Booking.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            offering_id=server.offering_id,
            profile_id=server.booking.profile_id,
            state=B.CONFIRMED,
            starts_at__lte=now + window,
            ends_at__gt=now,
        )
        .filter(Q(image=server.image_name) | Q(image=""))
        .exclude(Exists(live))
        .order_by("starts_at", "id")
        .first()
    )


def _short_pool(server: Server) -> StandbyPool | None:
    """The offering's pool for this server's profile and image, if it has fewer servers than its size."""
    assert server.booking is not None and server.offering_id is not None
    for pool in StandbyPool.objects.filter(
        offering_id=server.offering_id, profile_id=server.booking.profile_id, size__gt=0
    ):
        if pool.image and pool.image != server.image_name:
            continue
        held = Server.objects.filter(pool=pool, booking__isnull=True, state__in=POOL_STATES).count()
        if held < pool.size:
            return pool
    return None


def server_release(*, server_id: int, reason: str = "") -> Server | None:
    """The end of a tenure: hand the server to a waiting slice or the pool (rebuilt), or delete it.

    For an ACTIVE server whose booking no longer claims it. The renter's adjacent slice is the
    handover's (this leaves such a server alone); anything else is reclaim's (deleted).
    """
    now = clock.now()
    with transaction.atomic():
        server = (
            Server.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("booking")
            .filter(pk=server_id)
            .first()
        )
        if server is None or server.state != SS.ACTIVE or server.booking is None:
            target = None
        elif (
            server.booking.state in CLAIMING_STATES
            or (server.lease_until and server.lease_until > now)
            or Server.objects.filter(pk=server.pk).filter(awaits_hand_over(now)).exists()
        ):
            return None
        else:
            held_until = min(now, server.booking.ends_at)
            server.held_until = held_until
            waiting = _waiting_booking(server, now)
            pool = None if waiting is not None else _short_pool(server)
            if waiting is not None:
                target = _new_tenure(
                    server,
                    booking=waiting,
                    state=SS.TRANSFERRING,
                    now=now,
                    pool_id=None,
                    keypair_name=keypair_name(waiting.pk),
                    image_name=waiting.image or server.image_name,
                )
                engine.booking_transition(actor=None, booking=waiting, to=B.PROVISIONING)
                record_event(
                    actor=None,
                    verb="server.transfer_requested",
                    target=target,
                    data={"booking": waiting.pk, "from_booking": server.booking_id, "external_id": server.external_id},
                )
            elif pool is not None:
                target = _new_tenure(server, booking=None, state=SS.WIPING, now=now, pool_id=pool.pk)
                record_event(
                    actor=None,
                    verb="server.wipe_requested",
                    target=target,
                    data={"pool": pool.pk, "from_booking": server.booking_id, "external_id": server.external_id},
                )
            else:
                target = None
    if target is None:
        return server_reclaim(server_id=server_id, reason=reason) if server is not None else None
    assert server is not None
    old_keypair = server.keypair_name
    if target.booking_id is not None:
        result = _transfer_run(target)
    else:
        result = _wipe_run(target)
    _forget_keypair(target, old_keypair)
    return result


def _final_sample(server: Server) -> None:
    """The previous renter's last usage reading, just before the rebuild ends their tenure (none for the pool)."""
    if server.predecessor_id is None:
        return
    pred = Server.objects.filter(pk=server.predecessor_id, booking__isnull=False).values_list("pk", flat=True).first()
    if pred is not None:
        meter_final(server_id=pred)


def _revoked(server: Server) -> None:
    """The previous holder's access is gone: the cloud accepted the rebuild (the server left ACTIVE)."""
    if server.predecessor_id:
        Server.objects.filter(pk=server.predecessor_id, revoked_at__isnull=True).update(revoked_at=clock.now())


def _forget_keypair(server: Server, name: str) -> None:
    if not name or Server.objects.filter(state__in=LIVE_STATES, keypair_name=name).exists():
        return
    cache.delete(f"provisioning:keypair:{server.cloud_id}:{name}")
    try:
        driver_for(server.cloud).delete_keypair(name)
    except CloudError as exc:  # the reconciler deletes leftovers
        log.info("key pair %s not deleted yet: %s", name, exc.message)


def _wipe_run(server: Server) -> Server:
    """Rebuild with no key and no user-data (a fresh disk): the server goes back to the standby pool."""
    driver = driver_for(server.cloud)
    token = server.lease_token
    try:
        _final_sample(server)
        driver.rebuild_server(
            server.external_id or "",
            image_id=_image_id(server),
            keypair_name=None,
            user_data=None,
            metadata={META_POOL: str(server.pool_id)},
        )
        _revoked(server)
        if server.security_group_name and driver.capabilities().security_groups:
            driver.set_ssh_sources(name=server.security_group_name, cidrs=())  # idle: nothing gets in
        seen = driver.wait_for_status(server.external_id or "", ("ACTIVE",), timeout=active_timeout())
    except CloudError as exc:
        if exc.transient:
            _update_if_leased(server, token, lease_until=None, error_message=exc.message[:500])
            raise
        _update_if_leased(server, token, state=SS.ERROR, error_message=exc.message[:500], lease_until=None)
        return server_reclaim(server_id=server.pk, reason="wipe failed") or server
    if seen.status != "ACTIVE":
        _update_if_leased(
            server, token, state=SS.ERROR, error_message=(seen.fault or "rebuild failed")[:500], lease_until=None
        )
        return server_reclaim(server_id=server.pk, reason="wipe failed") or server
    now = clock.now()
    with transaction.atomic():
        if _update_if_leased(server, token, state=SS.STANDBY, active_at=now, lease_until=None, lease_token=""):
            record_event(actor=None, verb="server.standby", target=server, data={"pool": server.pool_id, "wiped": True})
    return server


def booking_reclaim(*, booking_id: int, reason: str = "") -> int:
    """Reclaim every live server of a booking (after release, preemption, failure, completion).

    A booking that completed while running hands its server to the renter's next
    adjacent slice instead, if there is one (the reaction to the engine's end sweep).
    """
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is not None and booking.state == B.COMPLETED and _hands_over(booking):
        nxt = _successor(booking)
        if nxt is not None and server_hand_over(from_booking_id=booking.pk, to_booking_id=nxt.pk) is not None:
            return 0
    done = 0
    for pk in Server.objects.filter(booking_id=booking_id, state__in=LIVE_STATES).values_list("pk", flat=True):
        # An ACTIVE server goes to a slice waiting for one, or back to the standby pool (both rebuilt);
        # anything else is deleted.
        if server_release(server_id=pk, reason=reason) is not None:
            done += 1
    return done


# ---- exact instants -------------------------------------------------------------------------------


def end_booking_now(*, booking_id: int) -> bool:
    """The engine ends the booking if its end (or notice deadline) has come; otherwise look again then."""
    ended = engine.booking_end_due(booking_id=booking_id)
    if not ended:
        booking = (
            Booking.objects.filter(pk=booking_id, state__in=CLAIMING_STATES).only("ends_at", "preempt_deadline").first()
        )
        if booking is not None:
            schedule_booking(booking)
    return ended


def schedule_booking(booking: Booking) -> None:
    """Send the booking's start and end steps for their instants (on commit; deduplicated)."""
    now = clock.now()
    if booking.state in LAUNCHABLE and booking.starts_at > now - timedelta(seconds=1):
        start = booking.starts_at - timedelta(seconds=lead_seconds())
        enqueue.send_at_on_commit("provisioning.deliver_booking", booking.pk, at=start, key=f"deliver:{booking.pk}")
    end = booking.ends_at
    if booking.preempt_deadline is not None and booking.preempt_deadline < end:
        end = booking.preempt_deadline
    enqueue.send_at_on_commit("provisioning.finish_booking", booking.pk, at=end, key=f"finish:{booking.pk}")


def schedule_instants(*, now: datetime | None = None, horizon: float | None = None) -> int:
    """Send the start and end steps that fall within the horizon (the beat's part). Returns how many."""
    now = now or clock.now()
    ahead = now + timedelta(seconds=horizon if horizon is not None else enqueue.ETA_HORIZON_SECONDS)
    lead = timedelta(seconds=lead_seconds())
    sent = 0
    starting = Booking.objects.filter(state__in=LAUNCHABLE, starts_at__lte=ahead + lead, ends_at__gt=now)
    ending = Booking.objects.filter(state__in=CLAIMING_STATES).filter(
        Q(ends_at__lte=ahead) | Q(preempt_deadline__lte=ahead)
    )
    seen: set[int] = set()
    for booking in [*starting.order_by("starts_at")[:1000], *ending.order_by("ends_at")[:1000]]:
        if booking.pk not in seen:
            seen.add(booking.pk)
            schedule_booking(booking)
            sent += 1
    return sent
