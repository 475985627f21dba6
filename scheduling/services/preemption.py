"""Preemption: an owner (or admin) takes capacity back, after notice.

Rules enforced here: only the offering's owner or staff preempt; a live booking gets notice
(the offering's notice, else the market default; zero or more seconds, at most the operator's
MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS), the renter is told, and it ends as preempted at the
deadline (at once with zero notice; a beat task ends the others). A notice is never longer than
what the booking has left: one that would outlast it runs to the booking's end, and the booking
then completes at its end as it would have anyway (it is not preempted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, InvalidTransition, PermissionDeniedError, ValidationFailed
from marketplace.lib.staff import staff_may
from owners.bounds import human_seconds, notice_max_seconds
from owners.models import Offering
from scheduling.models import CLAIMING_STATES, Booking, BookingState
from scheduling.services.state import _move

S = BookingState


def _can_preempt(actor: Any, offering: Offering) -> bool:
    return bool(
        getattr(actor, "is_authenticated", False)
        and (staff_may(actor, "scheduling.change_booking") or actor.has_perm("owners.change_offering", offering))
    )


def _notice_seconds(offering: Offering, notice_seconds: int | None) -> int:
    if notice_seconds is None:
        notice_seconds = offering.preemption_notice_seconds
    if notice_seconds is None:
        notice_seconds = settings.MARKETPLACE_PREEMPTION_NOTICE_SECONDS
    if isinstance(notice_seconds, bool) or not isinstance(notice_seconds, int) or notice_seconds < 0:
        raise ValidationFailed({"notice_seconds": ["The notice must be zero or more seconds."]})
    top = notice_max_seconds()
    if notice_seconds > top:
        raise ValidationFailed(
            {
                "notice_seconds": [
                    f"The notice can be at most {human_seconds(top)} ({top:,} s); {notice_seconds:,} s is longer."
                ]
            }
        )
    return notice_seconds


@dataclass(frozen=True)
class NoticePlan:
    """The notice one booking would get: how long, until when, and whether it reaches the booking's end."""

    booking_id: int
    notice_seconds: int
    deadline: datetime
    runs_to_end: bool


def _plan(booking: Booking, notice: int, now: datetime) -> NoticePlan:
    left = max(0, math.ceil((booking.ends_at - now).total_seconds()))
    if notice >= left:
        return NoticePlan(booking.pk, left, booking.ends_at, True)
    return NoticePlan(booking.pk, notice, now + timedelta(seconds=notice), False)


def _live(offering: Offering, now: datetime) -> Any:
    return Booking.objects.filter(
        offering=offering, state__in=[S.CONFIRMED, S.PROVISIONING, S.RUNNING], ends_at__gt=now
    ).order_by("id")


def preemption_preview(
    *, actor: Any, offering: Offering | None = None, booking: Booking | None = None, notice_seconds: int | None = None
) -> list[NoticePlan]:
    """What booking_preempt (``booking``) or offering_preempt_all (``offering``) would do now; acts on nothing.

    The same checks and the same arithmetic as the action, so a confirmation page shows what will happen.
    """
    now = clock.now()
    target = booking.offering if booking is not None else offering
    if target is None:
        raise ValidationFailed({"__all__": ["Say which booking or offering to preempt."]})
    if not _can_preempt(actor, target):
        raise PermissionDeniedError("Only the offering's owner or an admin can preempt its bookings.")
    notice = _notice_seconds(target, notice_seconds)
    if booking is not None:
        current = Booking.objects.get(pk=booking.pk)
        if current.state == S.NOTICE:
            raise ConflictError("This booking is already under a preemption notice.")
        if current.state not in CLAIMING_STATES:
            raise InvalidTransition(f"A booking that is {current.state} cannot be preempted.")
        return [_plan(current, notice, now)]
    return [_plan(b, notice, now) for b in _live(target, now)]


def _give_notice(*, actor: Any, booking: Booking, notice: int, reason: str, now: datetime) -> Booking:
    plan = _plan(booking, notice, now)
    notice, deadline = plan.notice_seconds, plan.deadline
    _move(
        booking,
        S.NOTICE,
        actor=actor,
        now=now,
        reason=reason,
        preempt_deadline=deadline,
        notice_given_at=now,
        notice_seconds=notice,
        data={"deadline": deadline.isoformat(), "notice_seconds": notice},
        verb="booking.notice",
    )
    if deadline <= now:
        _end_preempted(booking, actor=actor, now=now)
    return booking


def _end_preempted(booking: Booking, *, actor: Any, now: datetime) -> None:
    _move(booking, S.PREEMPTED, actor=actor, now=now, reason=booking.reason or "Preempted by the owner.")


def booking_preempt(*, actor: Any, booking: Booking, notice_seconds: int | None = None, reason: str = "") -> Booking:
    """Give a booking notice: it ends as preempted at the deadline (now + notice) and the renter is told.

    Only the offering's owner (owners.change_offering) or staff may.
    """
    now = clock.now()
    if not _can_preempt(actor, booking.offering):
        raise PermissionDeniedError("Only the offering's owner or an admin can preempt its bookings.")
    notice = _notice_seconds(booking.offering, notice_seconds)
    reason = reason.strip() or "Maintenance by the owner."
    with transaction.atomic():
        locked = Booking.objects.select_for_update().select_related("offering").get(pk=booking.pk)
        if locked.state == S.NOTICE:
            raise ConflictError("This booking is already under a preemption notice.")
        if locked.state not in CLAIMING_STATES:
            raise InvalidTransition(f"A booking that is {locked.state} cannot be preempted.")
        return _give_notice(actor=actor, booking=locked, notice=notice, reason=reason, now=now)


def offering_preempt_all(*, actor: Any, offering: Offering, notice_seconds: int | None = None, reason: str = "") -> int:
    """Give notice to every live booking of an offering (maintenance); returns how many."""
    now = clock.now()
    if not _can_preempt(actor, offering):
        raise PermissionDeniedError("Only the offering's owner or an admin can preempt its bookings.")
    notice = _notice_seconds(offering, notice_seconds)
    reason = reason.strip() or "Maintenance of the whole offering."
    count = 0
    with transaction.atomic():
        live = _live(offering, now).select_for_update().select_related("offering")
        for booking in live:
            _give_notice(actor=actor, booking=booking, notice=notice, reason=reason, now=now)
            count += 1
        record_event(
            actor=actor,
            verb="offering.preempted",
            target=offering,
            data={"bookings": count, "notice_seconds": notice, "reason": reason},
        )
    return count


def preemptions_end_due(*, batch: int = 500) -> int:
    """Notice -> preempted for every booking whose deadline has passed (beat task). Idempotent.

    A notice that runs to the booking's end is not a preemption: bookings_end_due completes it.
    """
    now = clock.now()
    done = 0
    while True:
        with transaction.atomic():
            due = list(
                Booking.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("offering")
                .filter(state=S.NOTICE, preempt_deadline__lte=now, preempt_deadline__lt=F("ends_at"))
                .order_by("preempt_deadline", "id")[:batch]
            )
            for booking in due:
                _end_preempted(booking, actor=None, now=now)
        done += len(due)
        if len(due) < batch:
            return done
