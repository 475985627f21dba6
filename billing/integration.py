"""Billing's adapter to the market engine: its hook receivers when they fire, a sweep always.

The only billing module that imports ``scheduling`` (and provisioning's metering, through its
selectors): it reads bookings into ``services.BookingFacts`` / ``charges.BookingEnd``, calls billing's
services, and tells the engine when a booking's card payment failed.

Hooks run after the engine's commit; an exception there would reach the
renter's request, so each reaction here logs and leaves the work to the sweep
(``sweep``), which finds bookings by state and time:

* a booking in a claiming state with no BookingCharge gets its hold;
* an ended booking whose charge is not settled gets settled;
* in card-per-booking mode, a booking whose card was declined is failed.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery, Sum

from billing import hooks, ledger, services
from billing.charges import BookingEnd, compute_charge
from billing.models import BookingCharge, LedgerAccount, Payment
from marketplace.lib import clock, enqueue
from marketplace.lib.errors import DomainError
from owners.models import PricingPolicy
from provisioning import selectors as provisioning
from scheduling import hooks as engine_hooks
from scheduling import services as engine
from scheduling.models import Booking

log = logging.getLogger(__name__)

CLAIMING = ("confirmed", "provisioning", "running", "notice")
ENDED = ("completed", "released", "preempted", "failed")


# ---------------------------------------------------------------- funds check (inside the engine's transaction)


def unheld_commitments(renter: Any, currency: str) -> int:
    """Confirmed bookings whose hold is not placed yet (the hook runs after commit): already spoken for."""
    held = BookingCharge.objects.filter(renter=renter).values_list("booking_id", flat=True)
    total = (
        Booking.objects.filter(renter=renter, currency=currency, state__in=CLAIMING)
        .exclude(pk__in=held)
        .aggregate(s=Sum("total_price"))["s"]
    )
    # Holds that a profile change raised and whose adjustment has not run yet: the rise is spoken for too.
    rises = (
        BookingCharge.objects.filter(renter=renter, currency=currency, state=BookingCharge.State.HELD)
        .annotate(total=Subquery(Booking.objects.filter(pk=OuterRef("booking_id")).values("total_price")[:1]))
        .filter(total__gt=F("price"))
        .aggregate(s=Sum(F("total") - F("price")))["s"]
    )
    return int(total or 0) + int(rises or 0)


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
    """(servers exist, held from, held until) from provisioning's metering.

    ``held until`` is None while a server is still held.
    """
    rows = provisioning.hold_periods(booking_id)
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
    """(when notice was given, seconds of notice given), as the engine keeps them on the booking."""
    if booking.notice_given_at is None or booking.preempt_deadline is None:
        return None, None
    return booking.notice_given_at, booking.notice_seconds


def price_schedule(booking: Any) -> tuple[tuple[datetime, datetime, int], ...]:
    """(from, to, amount) parts of a booking whose profile (and price) changed; empty if it never did."""
    periods = engine.price_schedule(booking)
    if len(periods) < 2:
        return ()
    return tuple((p.starts_at, p.ends_at, p.amount) for p in periods)


def booking_end(booking: Any) -> BookingEnd:
    outcome = booking.state
    given_at, _ = _notice_given(booking) if booking.state == "preempted" else (None, None)
    has_servers, held_from, held_until = server_hold(booking.pk)
    return BookingEnd(
        price_schedule=price_schedule(booking),
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
    booking = Booking.objects.select_related("renter", "offering__owner").filter(pk=booking_id).first()
    if booking is None or booking.total_price is None:
        return None
    if booking.state not in CLAIMING and booking.state not in ENDED:
        return None
    charge = services.booking_hold_place(facts=booking_facts(booking))
    if charge.mode == "card_per_booking" and charge.payment_id:
        enqueue.send_on_commit("billing.tasks.process_payment", charge.payment_id)
    return charge


def hold_adjust(booking_id: int) -> BookingCharge | None:
    """Bring a booking's hold to the price and end the engine now has for it (``services.booking_hold_adjust``)."""
    row = Booking.objects.filter(pk=booking_id).values_list("total_price", "ends_at").first()
    if row is None or row[0] is None:
        return None
    return services.booking_hold_adjust(booking_id=booking_id, total=int(row[0]), ends_at=row[1])


def price_change_check(booking: Any, new_total: int) -> None:
    """The engine's price_change_check hook: a booking paid by card was authorized for its price when
    confirmed, so a change that costs more cannot be charged to it."""
    charge = BookingCharge.objects.filter(booking_id=booking.pk).first()
    mode = charge.mode if charge is not None else services.billing_mode()
    held = charge.price if charge is not None else int(booking.total_price or 0)
    if mode != "prepaid" and new_total > held:
        raise DomainError(
            "This booking is paid by card, authorized for its price when it was confirmed: a change that costs "
            "more (a larger profile, a longer booking) cannot be charged to it. Book what you need as a new "
            "booking instead.",
        )


def charge_preview(booking: Any, end_at: datetime, outcome: str) -> engine_hooks.Preview | None:
    """The engine's charge_preview hook: what settlement would charge were the booking to end at ``end_at``
    as ``outcome``, by billing's own compute_charge on that hypothetical end (its hold brought to the
    booking's price first, as settlement does); once settled, the amount it was charged. Reads only."""
    if booking.total_price is None:
        return None
    charge = BookingCharge.objects.filter(booking_id=booking.pk).first()
    if charge is not None and charge.charged_amount is not None:
        return engine_hooks.Preview(charge.charged_amount, charge.currency, charge.price, settled=True)
    if charge is None:
        facts = booking_facts(booking)
        charge = BookingCharge(
            booking_id=facts.booking_id,
            offering_id=facts.offering_id,
            currency=facts.currency,
            starts_at=facts.starts_at,
            ends_at=facts.ends_at,
            release_charge=facts.release_charge,
            promised_notice_seconds=facts.preemption_notice_seconds,
        )
    # Unsaved, as the booking is now or would be (a change or an extension not yet made): settlement's
    # hold_adjust brings the hold to the booking's price first.
    charge.price, charge.ends_at = int(booking.total_price), booking.ends_at
    end = replace(booking_end(booking), outcome=outcome, held_until=end_at)
    _, amount, _ = compute_charge(charge, end, credit_percent=services.credit_percent_for(charge.offering_id))
    return engine_hooks.Preview(amount, charge.currency, charge.price)


def settle_booking_from_engine(booking_id: int) -> str:
    booking = Booking.objects.select_related("renter", "offering__owner").get(pk=booking_id)
    if booking.state not in ENDED:
        return "not-ended"
    if not BookingCharge.objects.filter(booking_id=booking_id).exists():
        try:
            hold_for_booking(booking_id)
        except DomainError as exc:
            log.warning("booking %s ended without a hold (%s)", booking_id, exc.message)
            return "no-hold"
    hold_adjust(booking_id)  # a profile change whose hook was missed: the hold first matches the price
    return services.booking_settle(booking_id=booking_id, end=booking_end(booking)).state


def fail_booking_for_payment(booking_id: int, message: str) -> None:
    """Card per booking: the authorization was declined, so the booking cannot go ahead."""
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


def on_booking_changed(booking_id: int) -> None:
    try:
        hold_adjust(booking_id)
    except Exception:
        log.warning("hold of booking %s not adjusted now; the sweep will retry", booking_id, exc_info=True)


def on_booking_ended(booking_id: int, reason: str) -> None:
    try:
        settle_booking_from_engine(booking_id)
    except Exception:
        log.warning("settlement of booking %s deferred to the sweep", booking_id, exc_info=True)


def register_with_engine() -> None:
    """Register billing's reactions with scheduling's hook registry (scheduling/hooks.py), and the engine
    with billing's own (billing/hooks.py: a booking's card payment failed)."""
    engine_hooks.register("funds_check", funds_check)
    engine_hooks.register("price_change_check", price_change_check)
    engine_hooks.register("charge_preview", charge_preview)
    engine_hooks.register("on_booking_confirmed", on_booking_confirmed)
    engine_hooks.register("on_booking_changed", on_booking_changed)
    engine_hooks.register("on_booking_ended", on_booking_ended)
    hooks.on_booking_payment_failed(fail_booking_for_payment)


# ---------------------------------------------------------------- the sweep


def sweep(*, now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Find billing work the hooks missed, by booking state and time. Idempotent."""
    now = now or clock.now()
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
    # Holds whose price (a profile change) or end (an extension) moved while the hook was lost (counted
    # as held: placed anew).
    for booking_id in (
        BookingCharge.objects.filter(state__in=[BookingCharge.State.HELD, BookingCharge.State.AUTHORIZING])
        .annotate(
            total=Subquery(Booking.objects.filter(pk=OuterRef("booking_id")).values("total_price")[:1]),
            end=Subquery(Booking.objects.filter(pk=OuterRef("booking_id")).values("ends_at")[:1]),
        )
        .exclude(total__isnull=True)
        .exclude(total=F("price"), end=F("ends_at"))
        .order_by("booking_id")
        .values_list("booking_id", flat=True)[:batch]
    ):
        try:
            hold_adjust(booking_id)
            counts["held"] += 1
        except Exception:
            counts["errors"] += 1
            log.warning("sweep: hold of booking %s not adjusted", booking_id, exc_info=True)
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
    for failed_id in Payment.objects.filter(
        purpose=Payment.Purpose.BOOKING,
        status=Payment.Status.FAILED,
        booking_id__in=Booking.objects.filter(state__in=CLAIMING).values("pk"),
    ).values_list("booking_id", flat=True):
        if failed_id is None:
            continue
        payment = Payment.objects.filter(booking_id=failed_id, status=Payment.Status.FAILED).first()
        fail_booking_for_payment(failed_id, payment.failure_message if payment else "declined")
        counts["failed"] += 1
    return counts
