"""The engine's time-based rule: a booking whose slice is over ends (beat task scheduling.tasks.end_due_bookings)..

- under notice with its deadline passed: preempted (preemptions_end_due, first, so
  the deadline wins over the slice's end when both have passed);
- running or under notice at the slice's end: completed;
- confirmed or provisioning at the slice's end (its server never became ready): failed.

Every move goes through the state machine, so the ``on_booking_ended`` hook
fires after commit: billing settles, provisioning hands the server over to the
renter's next adjacent slice or reclaims it. The engine knows nothing of
servers; provisioning copes with a booking completed before its server was
handed over (provisioning.services.handover).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from marketplace.lib import clock
from scheduling.models import Booking
from scheduling.services.preemption import _end_preempted, preemptions_end_due
from scheduling.services.state import S, _move

SLICE_ENDED = "Slice ended."
NOT_READY = "The server was not ready before the slice ended. The booking was cancelled and will be refunded."
_LIVE = (S.CONFIRMED, S.PROVISIONING, S.RUNNING, S.NOTICE)


def bookings_end_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """End every booking whose slice is over (and every preemption whose deadline passed). Idempotent.

    Bookings are taken in batches with SKIP LOCKED, one transaction per batch, so
    two sweepers share the work and a booking another worker holds is ended by
    the next sweep. Returns how many bookings ended.
    """
    done = preemptions_end_due()
    now = now or clock.now()
    while True:
        with transaction.atomic():
            due = list(
                Booking.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state__in=_LIVE, ends_at__lte=now)
                .order_by("ends_at", "id")[:batch]
            )
            for booking in due:
                if booking.state in (S.RUNNING, S.NOTICE):
                    _move(booking, S.COMPLETED, actor=None, reason=SLICE_ENDED)
                else:
                    _move(booking, S.FAILED, actor=None, reason=NOT_READY)
        done += len(due)
        if len(due) < batch:
            return done


def booking_end_due(*, booking_id: int, now: datetime | None = None) -> bool:
    """End one booking whose slice (or preemption notice) is over, at its instant. Idempotent.

    The same rule as bookings_end_due, for the step scheduled at the booking's end (provisioning's
    exact-time task); the sweep stays the backstop. True if it ended the booking now.
    """
    now = now or clock.now()
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=booking_id, state__in=_LIVE)
            .first()
        )
        if booking is None:
            return False
        deadline = booking.preempt_deadline
        if booking.state == S.NOTICE and deadline is not None and deadline <= now and deadline < booking.ends_at:
            _end_preempted(booking, actor=None, now=now)
            return True
        if booking.ends_at > now:
            return False
        if booking.state in (S.RUNNING, S.NOTICE):
            _move(booking, S.COMPLETED, actor=None, reason=SLICE_ENDED)
        else:
            _move(booking, S.FAILED, actor=None, reason=NOT_READY)
    return True
