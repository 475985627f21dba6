"""Adjacent slices: the renter's next booking keeps the running server (no reclaim, no relaunch).

The engine owns the end of a slice (scheduling.services.ending completes a booking whose
slice is over, after commit its ``on_booking_ended`` hook fires). Provisioning
reacts: the hook's reclaim (services.booking_reclaim) hands the server to the
renter's next adjacent booking instead, and the hand-over sweep does the same
for a lost message or a next slice that started before the end sweep ran.

Between the engine's commit and the hand-over the old booking is *completed*
while its server is still ACTIVE. We chose not to decide the hand-over inside
the engine's transaction (that would need a hook the engine runs before it
ends a booking); instead that state has a name, ``awaits_hand_over``, and
everything that would otherwise act on such a server leaves it alone: the
reclaim sweep excludes it, server_reclaim refuses it under its row lock, and
launch_prepare does not launch the next booking a second server. A booking
completed while under a preemption notice never hands over (as before: only a
running booking did), which ``preempt_deadline`` tells.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from audit.services import record_event
from marketplace.lib import clock
from provisioning.drivers import TAG_MARKETPLACE, CloudError, booking_tag, driver_for
from provisioning.models import Server, ServerState
from provisioning.services.metering import meter_final
from scheduling import services as engine
from scheduling.models import Booking, BookingState

log = logging.getLogger(__name__)
B = BookingState
SS = ServerState


def _hands_over(booking: Booking) -> bool:
    """A booking whose server may pass to the next slice: running, or completed by the end sweep while running."""
    return booking.state == B.RUNNING or (booking.state == B.COMPLETED and booking.preempt_deadline is None)


def _predecessor(booking: Booking) -> Booking | None:
    """The renter's booking that ends exactly when this one starts, same offering, profile and image."""
    return (
        Booking.objects.filter(
            renter_id=booking.renter_id,
            offering_id=booking.offering_id,
            profile_id=booking.profile_id,
            ends_at=booking.starts_at,
        )
        .filter(Q(state__in=(B.PROVISIONING, B.RUNNING)) | Q(state=B.COMPLETED, preempt_deadline__isnull=True))
        .filter(Q(image=booking.image) | Q(image=""))
        .exclude(pk=booking.pk)
        .order_by("-id")
        .first()
    )


def _successor(booking: Booking) -> Booking | None:
    """The renter's confirmed booking that starts exactly when this one ends, same offering, profile and image."""
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


def awaits_hand_over(now: datetime) -> Q:
    """Server rows (a Q over Server) that the renter's next slice is about to take over: leave them be.

    An ACTIVE server whose booking the engine completed (not under notice) while
    a confirmed adjacent booking of the same renter, offering, profile and image
    is still to run.
    """
    successor = Booking.objects.filter(
        renter_id=OuterRef("booking__renter_id"),
        offering_id=OuterRef("booking__offering_id"),
        profile_id=OuterRef("booking__profile_id"),
        starts_at=OuterRef("booking__ends_at"),
        state=B.CONFIRMED,
        ends_at__gt=now,
    ).filter(Q(image=OuterRef("booking__image")) | Q(image=""))
    return Q(state=SS.ACTIVE, booking__state=B.COMPLETED, booking__preempt_deadline__isnull=True) & Q(Exists(successor))


def server_hand_over(*, from_booking_id: int, to_booking_id: int, now: datetime | None = None) -> Server | None:
    """The renter's next booking takes the running server: no reclaim, no relaunch. Idempotent.

    The old booking is running (the next slice started before the engine's end
    sweep ended it: it is completed here, through the engine) or already
    completed by that sweep (see ``awaits_hand_over``).
    """
    now = now or clock.now()
    with transaction.atomic():
        first, second = sorted([from_booking_id, to_booking_id])
        locked = {b.pk: b for b in Booking.objects.select_for_update().filter(pk__in=[first, second]).order_by("id")}
        old_b, new_b = locked.get(from_booking_id), locked.get(to_booking_id)
        if old_b is None or new_b is None or new_b.state != B.CONFIRMED or not _hands_over(old_b):
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
            offering_id=old.offering_id,
            pool_id=old.pool_id,
            vcpus=old.vcpus,
            ram_mib=old.ram_mib,
            disk_gb=old.disk_gb,
            bandwidth_mbps=old.bandwidth_mbps,
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
        if old_b.state == B.RUNNING:
            engine.booking_transition(actor=None, booking=old_b, to=B.COMPLETED, reason="Slice ended.")
        engine.booking_transition(actor=None, booking=new_b, to=B.RUNNING, reason="Kept the renter's server.")
    meter_final(server_id=old.pk, next_server_id=new.pk)  # one reading ends one tenure and starts the next
    try:
        driver_for(new.cloud).set_booking(new.external_id or "", new_b.pk, [TAG_MARKETPLACE, booking_tag(new_b.pk)])
    except CloudError as exc:  # the Server row is the truth; metadata only helps adoption
        log.warning("could not re-tag server %s for booking %s: %s", new.external_id, new_b.pk, exc.message)
    if sorted(new_b.ssh_cidrs or []) != sorted(old_b.ssh_cidrs or []) and new.security_group_name:
        try:  # the next slice's SSH sources, if the renter chose others for it
            driver_for(new.cloud).set_ssh_sources(name=new.security_group_name, cidrs=tuple(new_b.ssh_cidrs or ()))
        except CloudError as exc:
            log.warning("could not set the SSH sources of server %s: %s", new.external_id, exc.message)
    return new
