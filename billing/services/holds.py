"""Booking holds: the funds check, the hold placed for a confirmed booking, the hold moved to a new price.

The funds check covers the renter's monthly spend limit, the prepaid balance and, per booking, a card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from accounts.models import User
from audit.services import record_event
from billing import hooks, ledger, selectors
from billing.models import BookingCharge, LedgerAccount, LedgerTransaction, Payment
from billing.services.common import (
    TX,
    InsufficientFunds,
    K,
    NoPaymentMethod,
    SpendLimitReached,
    billing_mode,
    operator_maximum,
)
from billing.services.customers import default_payment_method
from marketplace.lib import clock
from marketplace.lib.money import format_minor
from renters.models import RenterSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BookingFacts:
    """What billing needs to know about a booking, read from the engine."""

    booking_id: int
    renter: User
    owner: User
    offering_id: int
    currency: str
    price: int
    starts_at: datetime
    ends_at: datetime
    release_charge: str = "prorated"
    preemption_notice_seconds: int = 0


def renter_month_spend(user: User, currency: str, at: datetime | None = None) -> int:
    """This month's charges plus open holds: what counts against the spend limit."""
    _, settled, open_holds = selectors.month_spend_charges(user, currency, at)
    return int(settled.aggregate(s=Sum("charged_amount"))["s"] or 0) + int(
        open_holds.aggregate(s=Sum("price"))["s"] or 0
    )


def funds_check(*, renter: User, amount: int, currency: str, committed: int = 0) -> None:
    """Refuse, with a reason the renter can act on, a booking they cannot pay for. Raises; returns None if fine.

    ``committed``: bookings already confirmed whose hold is not placed yet (they count as spent).
    """
    row = RenterSettings.objects.filter(user=renter).values_list("spend_limit", "currency").first()
    limit = row[0] if row is not None and row[1] == currency else None  # a limit counts spending in its currency
    if limit is not None:
        spent = renter_month_spend(renter, currency) + committed
        if spent + amount > limit:
            raise SpendLimitReached(
                f"This booking ({format_minor(amount, currency)}) would take your spending this month to "
                f"{format_minor(spent + amount, currency)}, above your limit of {format_minor(limit, currency)}.",
                extra={"limit": limit, "spent": spent, "amount": amount, "currency": currency},
            )
    if billing_mode() == "prepaid":
        available = selectors.renter_available(renter, currency) - committed  # the figure pages show
        if available < amount:
            raise InsufficientFunds(
                f"Your balance is {format_minor(available, currency)}; this booking needs "
                f"{format_minor(amount, currency)}. Top up {format_minor(amount - available, currency)} or more.",
                extra={"available": available, "amount": amount, "currency": currency},
            )
    elif default_payment_method(renter) is None:
        raise NoPaymentMethod("Add a card to book: each booking is charged to your card.")


def booking_hold_place(*, facts: BookingFacts) -> BookingCharge:
    """Hold the renter's funds for a confirmed booking (prepaid: on the ledger now; card: an authorization).

    Idempotent on the booking id. In prepaid mode the balance is re-checked under a row lock, so two
    bookings confirmed at once cannot spend the same money.
    """
    mode = billing_mode()
    with transaction.atomic():
        existing = BookingCharge.objects.select_for_update().filter(booking_id=facts.booking_id).first()
        if existing is not None:
            return existing
        balance_acc = ledger.account(K.RENTER_BALANCE, facts.currency, facts.renter)
        holds_acc = ledger.account(K.RENTER_HOLDS, facts.currency, facts.renter)
        ledger.lock(balance_acc)
        if mode == "prepaid":
            funds_check(renter=facts.renter, amount=facts.price, currency=facts.currency)  # again, under the lock
        charge = BookingCharge.objects.create(
            booking_id=facts.booking_id,
            renter=facts.renter,
            owner=facts.owner,
            offering_id=facts.offering_id,
            mode=mode,
            currency=facts.currency,
            price=facts.price,
            starts_at=facts.starts_at,
            ends_at=facts.ends_at,
            release_charge=facts.release_charge,
            promised_notice_seconds=facts.preemption_notice_seconds,
            state=BookingCharge.State.HELD if mode == "prepaid" else BookingCharge.State.AUTHORIZING,
        )
        if mode == "prepaid":
            if facts.price > 0:
                ledger.post_transaction(
                    kind=TX.HOLD,
                    idempotency_key=f"booking-{facts.booking_id}-hold",
                    lines=[(balance_acc, facts.price), (holds_acc, -facts.price)],
                    booking_id=facts.booking_id,
                    offering_id=facts.offering_id,
                    memo=f"Hold for booking #{facts.booking_id}",
                )
                _tell_if_balance_low(facts)
        else:
            method = default_payment_method(facts.renter)
            if method is None:
                raise NoPaymentMethod("Add a card to book: each booking is charged to your card.")
            payment = Payment.objects.create(
                user=facts.renter,
                purpose=Payment.Purpose.BOOKING,
                amount=facts.price,
                currency=facts.currency,
                payment_method=method,
                booking_id=facts.booking_id,
                idempotency_key=f"booking-{facts.booking_id}-charge-v1",
            )
            charge.payment = payment
            charge.save(update_fields=["payment"])
        record_event(
            actor=None,
            verb="billing.hold.placed",
            target=charge,
            data={"booking_id": facts.booking_id, "amount": facts.price, "currency": facts.currency, "mode": mode},
            source="task",
        )
        _tell_if_spend_limit_near(facts)
    return charge


def _tell_if_balance_low(facts: BookingFacts) -> None:
    """The hold took the renter's available balance below BILLING_BALANCE_LOW: tell it (once per crossing)."""
    if not hooks.wants_billing_events():
        return
    threshold = operator_maximum(settings.BILLING_BALANCE_LOW, facts.currency)
    available = selectors.renter_available(facts.renter, facts.currency)
    if threshold is not None and available < threshold <= available + facts.price:
        hooks.billing_event(
            "balance_low",
            user_id=facts.renter.pk,
            booking_id=None,
            available=available,
            threshold=threshold,
            currency=facts.currency,
        )


# The renter is told once their month's spending passes this share of their limit (the funds check
# refuses what would go above it: this is their warning before that).
SPEND_LIMIT_TELL_PERCENT = 90


def _tell_if_spend_limit_near(facts: BookingFacts) -> None:
    """The hold took this month's spending to SPEND_LIMIT_TELL_PERCENT of the renter's limit or more:
    tell it (once per crossing, as a ``spend_limit_reached`` event)."""
    if not hooks.wants_billing_events() or facts.price <= 0:
        return
    row = RenterSettings.objects.filter(user=facts.renter).values_list("spend_limit", "currency").first()
    if row is None or row[0] is None or row[1] != facts.currency or row[0] <= 0:
        return
    limit = int(row[0])
    mark = -(-limit * SPEND_LIMIT_TELL_PERCENT // 100)  # rounded up: 90 % of 1.01 is 0.91
    spent = renter_month_spend(facts.renter, facts.currency)  # this hold included
    if spent - facts.price < mark <= spent:
        hooks.billing_event(
            "spend_limit_reached",
            user_id=facts.renter.pk,
            booking_id=facts.booking_id,
            spent=spent,
            limit=limit,
            currency=facts.currency,
        )


def booking_hold_adjust(*, booking_id: int, total: int, ends_at: datetime | None = None) -> BookingCharge | None:
    """Bring a booking's hold to its price after a profile change repriced it or an extension moved its
    end (``ends_at``: the booking's end now; the charge's slice follows it, so settlement prorates over
    the whole booking). Idempotent: under the charge's row lock the held price is compared with
    ``total`` (the booking's price now) and only the difference moves.

    Prepaid: the difference is held from (or released to) the balance; the engine asked the funds check
    for a rise before it committed. Card per booking: the authorization on the ledger follows a fall
    (the capture is then smaller); a rise is refused by ``price_change_check`` before the change, and
    an undone fall never goes above what the card authorized.
    """
    with transaction.atomic():
        charge = BookingCharge.objects.select_for_update().filter(booking_id=booking_id).first()
        if charge is None or charge.state not in (BookingCharge.State.HELD, BookingCharge.State.AUTHORIZING):
            return charge  # no hold yet (it will be placed at the new price) or already settled
        if ends_at is not None and charge.ends_at != ends_at:
            moved_from, charge.ends_at, charge.updated_at = charge.ends_at, ends_at, clock.now()
            charge.save(update_fields=["ends_at", "updated_at"])
            record_event(
                actor=None,
                verb="billing.hold.end_moved",
                target=charge,
                data={"booking_id": booking_id, "from": moved_from.isoformat(), "to": ends_at.isoformat()},
                source="task",
            )
        new = total
        payment = charge.payment
        if charge.mode != "prepaid" and payment is not None and new > payment.amount:
            log.warning("booking %s: price %s above the card authorization %s", booking_id, new, payment.amount)
            new = payment.amount
        delta = new - charge.price
        if delta == 0:
            return charge
        cur, renter = charge.currency, charge.renter
        holds = ledger.account(LedgerAccount.Kind.RENTER_HOLDS, cur, renter)
        other_kind = (
            LedgerAccount.Kind.RENTER_BALANCE if charge.mode == "prepaid" else LedgerAccount.Kind.CARD_AUTHORIZATIONS
        )
        other = ledger.account(other_kind, cur, renter)
        prefix = f"booking-{booking_id}-hold-adjust-"
        rise = delta > 0
        # The first hold (or card authorization) is on the ledger unless it was for nothing or is to come.
        first = f"booking-{booking_id}-hold"
        if not LedgerTransaction.objects.filter(idempotency_key=first).exists():
            if charge.mode == "prepaid" and rise:  # a hold of nothing, now for something: it becomes the hold
                ledger.lock(holds, other)
                ledger.post_transaction(
                    kind=LedgerTransaction.Kind.HOLD,
                    idempotency_key=first,
                    lines=[(other, delta), (holds, -delta)],
                    booking_id=booking_id,
                    offering_id=charge.offering_id,
                    memo=f"Hold for booking #{booking_id} (profile change)",
                )
        else:
            ledger.lock(holds, other)
            done = LedgerTransaction.objects.filter(booking_id=booking_id, idempotency_key__startswith=prefix).count()
            hold_kind = (
                LedgerTransaction.Kind.HOLD if charge.mode == "prepaid" else LedgerTransaction.Kind.CARD_AUTHORIZATION
            )
            ledger.post_transaction(
                kind=hold_kind if rise else LedgerTransaction.Kind.HOLD_RELEASE,
                idempotency_key=f"{prefix}{done + 1}",
                lines=[(other, delta), (holds, -delta)],
                booking_id=booking_id,
                offering_id=charge.offering_id,
                memo=f"Hold for booking #{booking_id} {'raised' if rise else 'lowered'} to {format_minor(new, cur)} "
                "(profile change)",
            )
        before = charge.price
        charge.price, charge.updated_at = new, clock.now()
        charge.save(update_fields=["price", "updated_at"])
        record_event(
            actor=None,
            verb="billing.hold.adjusted",
            target=charge,
            data={"booking_id": booking_id, "from": before, "to": new, "currency": cur, "mode": charge.mode},
            source="task",
        )
    return charge
