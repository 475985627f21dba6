"""Preemption: an owner (or admin) takes capacity back, after notice.

Rules enforced here: only the offering's owner or staff preempt; a live booking gets notice
(the offering's notice, else the market default; zero or more seconds), the renter is told, and
it ends as preempted at the deadline (at once with zero notice; a beat task ends the others).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, InvalidTransition, PermissionDeniedError, ValidationFailed
from owners.models import Offering
from scheduling.models import CLAIMING_STATES, Booking, BookingState, Notification
from scheduling.services.state import _move

S = BookingState


def _can_preempt(actor: Any, offering: Offering) -> bool:
    return bool(
        getattr(actor, "is_authenticated", False)
        and (actor.is_staff or actor.has_perm("owners.change_offering", offering))
    )


def _notice_seconds(offering: Offering, notice_seconds: int | None) -> int:
    if notice_seconds is None:
        notice_seconds = offering.preemption_notice_seconds
    if notice_seconds is None:
        notice_seconds = settings.MARKETPLACE_PREEMPTION_NOTICE_SECONDS
    if isinstance(notice_seconds, bool) or not isinstance(notice_seconds, int) or notice_seconds < 0:
        raise ValidationFailed({"notice_seconds": ["The notice must be zero or more seconds."]})
    return notice_seconds


def _notify(user_id: int, booking: Booking | None, kind: str, message: str, now: datetime) -> None:
    Notification.objects.create(user_id=user_id, booking=booking, kind=kind, message=message[:500], created_at=now)


def _give_notice(*, actor: Any, booking: Booking, notice: int, reason: str, now: datetime) -> Booking:
    deadline = now + timedelta(seconds=notice)
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
    _notify(
        booking.renter_id,
        booking,
        Notification.Kind.PREEMPTION_NOTICE,
        f"Booking {booking.pk} on {booking.offering.name} will be preempted at "
        f"{deadline:%Y-%m-%d %H:%M:%S} UTC ({notice} s notice). {reason}".strip(),
        now,
    )
    if deadline <= now:
        _end_preempted(booking, actor=actor, now=now)
    return booking


def _end_preempted(booking: Booking, *, actor: Any, now: datetime) -> None:
    _move(booking, S.PREEMPTED, actor=actor, now=now, reason=booking.reason or "Preempted by the owner.")
    _notify(
        booking.renter_id,
        booking,
        Notification.Kind.PREEMPTED,
        f"Booking {booking.pk} on {booking.offering.name} was preempted; its capacity was taken back.",
        now,
    )


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
        live = (
            Booking.objects.select_for_update()
            .select_related("offering")
            .filter(offering=offering, state__in=[S.CONFIRMED, S.PROVISIONING, S.RUNNING], ends_at__gt=now)
            .order_by("id")
        )
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
    """Notice -> preempted for every booking whose deadline has passed (beat task). Idempotent."""
    now = clock.now()
    done = 0
    while True:
        with transaction.atomic():
            due = list(
                Booking.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("offering")
                .filter(state=S.NOTICE, preempt_deadline__lte=now)
                .order_by("preempt_deadline", "id")[:batch]
            )
            for booking in due:
                _end_preempted(booking, actor=None, now=now)
        done += len(due)
        if len(due) < batch:
            return done
