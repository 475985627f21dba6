"""Wiring billing to the market engine (scheduling): its hooks when they fire, a sweep always.

Hooks run after the engine's commit; an exception there would reach the
renter's request, so each reaction here logs and leaves the work to the sweep
(``sweep``), which finds bookings by state and time:

* a booking in a claiming state with no BookingCharge gets its hold;
* an ended booking whose charge is not settled gets settled;
* in card-per-booking mode, a booking whose card was declined is failed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum

from billing import ledger, services
from billing.models import BookingCharge, LedgerAccount, Payment
from marketplace.lib import clock
from marketplace.lib.errors import DomainError
from owners.models import PricingPolicy

log = logging.getLogger(__name__)

CLAIMING = ("confirmed", "provisioning", "running", "notice")
ENDED = ("completed", "released", "preempted", "failed")


def _booking_model() -> Any:
    from scheduling.models import Booking

    return Booking


# ---------------------------------------------------------------- funds check (inside the engine's transaction)


def unheld_commitments(renter: Any, currency: str) -> int:
    """Confirmed bookings whose hold is not placed yet (the hook runs after commit): already spoken for."""
    Booking = _booking_model()
    held = BookingCharge.objects.filter(renter=renter).values_list("booking_id", flat=True)
    total = (
        Booking.objects.filter(renter=renter, currency=currency, state__in=CLAIMING)
        .exclude(pk__in=held)
        .aggregate(s=Sum("total_price"))["s"]
    )
    return int(total or 0)


def funds_check(renter: Any, offering: Any, profile: Any, amount: int, currency: str) -> None:
    """The engine's funds_check hook: refuse before the booking is made, with a reason the renter can act on.

    The renter's balance account is row-locked until the engine's transaction commits, so two
    requests of the same renter are checked one after the other.
    """
    if not getattr(settings, "BILLING_FUNDS_CHECK", True):
        return
    acc = ledger.account(LedgerAccount.Kind.RENTER_BALANCE, currency, renter)
    ledger.lock(acc)
    services.funds_check(
        renter=renter, amount=amount, currency=currency, committed=unheld_commitments(renter, currency)
    )


# ---------------------------------------------------------------- facts from the engine


def booking_facts(booking: Any) -> services.BookingFacts:
    policy = PricingPolicy.objects.filter(offering_id=booking.offering_id, profile_id=booking.profile_id).first()
    return services.BookingFacts(
        booking_id=booking.pk,
        renter=booking.renter,
        owner=booking.offering.owner,
        offering_id=booking.offering_id,
        currency=booking.currency,
        price=int(booking.total_price or 0),
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        release_charge=policy.release_charge if policy else "prorated",
        preemption_notice_seconds=booking.offering.preemption_notice_seconds or 0,
    )


def server_hold(booking_id: int) -> tuple[bool, datetime | None, datetime | None]:
    """(servers exist, held from, held until) from provisioning's metering, read through the app registry.

    ``held until`` is None while a server is still held. Billing may not import provisioning (the two
    apps are one layer), so the model is looked up by name.
    """
    try:
        server_model = apps.get_model("provisioning", "Server")
    except LookupError:
        return False, None, None
    fields = {f.name for f in server_model._meta.get_fields()}
    if not {"held_from", "held_until", "booking"} <= fields:
        return False, None, None
    rows = list(server_model.objects.filter(booking_id=booking_id).values_list("held_from", "held_until"))
    if not rows:
        return False, None, None
    held = [(f, u) for f, u in rows if f is not None]
    if not held:
        return True, None, None
    start = min(f for f, _ in held)
    ends = [u for _, u in held if u is not None]
    until = max(ends) if len(ends) == len(held) else None
    return True, start, until


def _notice_given(booking: Any) -> tuple[datetime | None, int | None]:
    """(when notice was given, seconds of notice given), from the engine's audited notice event."""
    from audit.models import DomainEvent

    event = (
        DomainEvent.objects.filter(target_id=str(booking.pk), verb="booking.notice", target_type__model="booking")
        .order_by("-created_at")
        .first()
    )
    if event is None or booking.preempt_deadline is None:
        return None, None
    seconds = event.data.get("notice_seconds")
    if isinstance(seconds, int):
        return booking.preempt_deadline - timedelta(seconds=seconds), seconds
    return event.created_at, None


def booking_end(booking: Any) -> services.BookingEnd:
    outcome = booking.state
    given_at, _ = _notice_given(booking) if booking.state == "preempted" else (None, None)
    has_servers, held_from, held_until = server_hold(booking.pk)
    return services.BookingEnd(
        outcome=outcome,
        held_until=booking.ended_at,
        notice_given_at=given_at,
        notice_deadline=booking.preempt_deadline if booking.state == "preempted" else None,
        server_reclaimed_at=held_until,
        server_held_from=held_from,
        server_never_held=has_servers and held_from is None,
    )


# ---------------------------------------------------------------- reactions


def hold_for_booking(booking_id: int) -> BookingCharge | None:
    Booking = _booking_model()
    booking = Booking.objects.select_related("renter", "offering__owner").filter(pk=booking_id).first()
    if booking is None or booking.total_price is None:
        return None
    if booking.state not in CLAIMING and booking.state not in ENDED:
        return None
    charge = services.booking_hold_place(facts=booking_facts(booking))
    if charge.mode == "card_per_booking" and charge.payment_id:
        transaction.on_commit(lambda: _enqueue_payment(charge.payment_id))
    return charge


def _enqueue_payment(payment_id: int | None) -> None:
    from billing import tasks

    try:
        tasks.process_payment.delay(payment_id)
    except Exception:
        log.warning("could not queue payment %s; the sweep will pick it up", payment_id, exc_info=True)


def settle_booking_from_engine(booking_id: int) -> str:
    Booking = _booking_model()
    booking = Booking.objects.select_related("renter", "offering__owner").get(pk=booking_id)
    if booking.state not in ENDED:
        return "not-ended"
    if not BookingCharge.objects.filter(booking_id=booking_id).exists():
        try:
            hold_for_booking(booking_id)
        except DomainError as exc:
            log.warning("booking %s ended without a hold (%s)", booking_id, exc.message)
            return "no-hold"
    return services.booking_settle(booking_id=booking_id, end=booking_end(booking)).state


def fail_booking_for_payment(booking_id: int, message: str) -> None:
    """Card per booking: the authorization was declined, so the booking cannot go ahead."""
    from scheduling import services as engine

    Booking = _booking_model()
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is None or booking.state not in CLAIMING:
        return
    try:
        engine.booking_transition(actor=None, booking=booking, to="failed", reason=f"Payment failed: {message}"[:300])
    except DomainError as exc:
        log.info("booking %s not failed after payment failure: %s", booking_id, exc.message)


def on_booking_confirmed(booking_id: int) -> None:
    try:
        hold_for_booking(booking_id)
    except DomainError as exc:
        # Confirmed without the money (an auction win above what is left, or funds spent meanwhile).
        fail_booking_for_payment(booking_id, exc.message)
    except Exception:
        log.warning("hold for booking %s not placed now; the sweep will retry", booking_id, exc_info=True)


def on_booking_ended(booking_id: int, reason: str) -> None:
    try:
        settle_booking_from_engine(booking_id)
    except Exception:
        log.warning("settlement of booking %s deferred to the sweep", booking_id, exc_info=True)


def register_with_engine() -> None:
    """Register billing's reactions with scheduling's hook registry (scheduling/hooks.py)."""
    try:
        from scheduling import hooks
    except ImportError:
        return
    hooks.register("funds_check", funds_check)
    hooks.register("on_booking_confirmed", on_booking_confirmed)
    hooks.register("on_booking_ended", on_booking_ended)


def unregister_from_engine() -> None:
    from scheduling import hooks

    hooks.unregister("funds_check", funds_check)
    hooks.unregister("on_booking_confirmed", on_booking_confirmed)
    hooks.unregister("on_booking_ended", on_booking_ended)


# ---------------------------------------------------------------- the sweep


def sweep(*, now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Find billing work the hooks missed, by booking state and time. Idempotent."""
    now = now or clock.now()
    Booking = _booking_model()
    counts = {"held": 0, "settled": 0, "failed": 0, "errors": 0}
    charged = BookingCharge.objects.values_list("booking_id", flat=True)
    for booking_id in (
        Booking.objects.filter(state__in=CLAIMING, total_price__isnull=False)
        .exclude(pk__in=charged)
        .order_by("id")
        .values_list("pk", flat=True)[:batch]
    ):
        try:
            if hold_for_booking(booking_id) is not None:
                counts["held"] += 1
        except DomainError as exc:
            fail_booking_for_payment(booking_id, exc.message)
            counts["failed"] += 1
        except Exception:
            counts["errors"] += 1
            log.warning("sweep: hold for booking %s failed", booking_id, exc_info=True)
    open_states = [BookingCharge.State.HELD, BookingCharge.State.AUTHORIZING, BookingCharge.State.SETTLING]
    ended_ids = set(
        Booking.objects.filter(state__in=ENDED)
        .filter(pk__in=BookingCharge.objects.filter(state__in=open_states).values("booking_id"))
        .values_list("pk", flat=True)[:batch]
    )
    # Ended before any hold was placed (hooks lost): still charged for what was used. Failed ones cost
    # nothing, and a week bounds the retries of a booking whose renter cannot pay.
    ended_ids |= set(
        Booking.objects.filter(state__in=("completed", "released", "preempted"), total_price__isnull=False)
        .filter(Q(confirmed_at__isnull=False), ended_at__gte=now - timedelta(days=7))
        .exclude(pk__in=charged)
        .values_list("pk", flat=True)[:batch]
    )
    for booking_id in sorted(ended_ids):
        try:
            settle_booking_from_engine(booking_id)
            counts["settled"] += 1
        except Exception:
            counts["errors"] += 1
            log.warning("sweep: settlement of booking %s failed", booking_id, exc_info=True)
    for booking_id in Payment.objects.filter(
        purpose=Payment.Purpose.BOOKING,
        status=Payment.Status.FAILED,
        booking_id__in=Booking.objects.filter(state__in=CLAIMING).values("pk"),
    ).values_list("booking_id", flat=True):
        if booking_id is None:
            continue
        payment = Payment.objects.filter(booking_id=booking_id, status=Payment.Status.FAILED).first()
        fail_booking_for_payment(booking_id, payment.failure_message if payment else "declined")
        counts["failed"] += 1
    return counts
