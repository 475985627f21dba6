"""The beat sweeps' services: find due work by state and time, in batches, rows taken with SKIP LOCKED.

Each returns the ids its task then sends one message for; a message that is
lost (broker down, worker killed) is found again by the next sweep, because
the work is still there in the database. Ending bookings whose slice is over
is the engine's (scheduling.services.ending); provisioning only reacts to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from marketplace.lib import clock
from provisioning.models import LIVE_STATES, Server, ServerState
from provisioning.services.common import LAUNCHABLE, _take_lease, lead_seconds
from provisioning.services.handover import _hands_over, _predecessor, awaits_hand_over, server_hand_over
from scheduling.models import Booking, BookingState

B = BookingState
SS = ServerState


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


def hand_overs_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Hand the server over to every renter's next adjacent slice that has started. Returns how many.

    Catches what the ``on_booking_ended`` reaction did not (a lost message), and
    a next slice that starts before the engine's end sweep ended the one before.
    """
    now = now or clock.now()
    done = 0
    for booking in Booking.objects.filter(state=B.CONFIRMED, starts_at__lte=now, ends_at__gt=now).order_by("id")[
        :batch
    ]:
        pred = _predecessor(booking)
        if (
            pred is not None
            and _hands_over(pred)
            and server_hand_over(from_booking_id=pred.pk, to_booking_id=booking.pk, now=now) is not None
        ):
            done += 1
    return done


def hand_over_or_reclaim_due(*, now: datetime | None = None, batch: int = 200) -> list[int]:
    """The reclaim sweep: first the due hand-overs, then the ids of the servers to reclaim."""
    now = now or clock.now()
    hand_overs_due(now=now, batch=batch)
    return reclaim_due(now=now, batch=batch)


def reclaim_due(*, now: datetime | None = None, batch: int = 200) -> list[int]:
    """Live servers whose booking has ended, or whose reclaim died with its worker.

    Not a server the renter's next slice is about to take over (handover.awaits_hand_over).
    """
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
            .exclude(awaits_hand_over(now))
            .order_by("id")
            .values_list("pk", flat=True)[:batch]
        )
    return ids


def resize_due(*, now: datetime | None = None, batch: int = 200) -> list[int]:
    """Servers left RESIZING after their lease expired (the message was lost, or its worker died).

    Each is leased again (a new token, so a worker that is somehow still at it
    records nothing) and returned for the resize task to run again; the resize
    is idempotent (it compares the cloud's flavor with the booking's profile).
    Only for bookings still running: an ended booking's server is reclaimed instead.
    """
    now = now or clock.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    with transaction.atomic():
        stuck = list(
            Server.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=SS.RESIZING, booking__state__in=(B.RUNNING, B.NOTICE))
            .filter(free)
            .order_by("id")[:batch]
        )
        return [server.pk for server in stuck if _take_lease(server, now=now) is not None]
