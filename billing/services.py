"""Billing writes: payments in, booking holds and charges, refunds, credits, payouts, adjustments.

The rule every Stripe-facing service follows (never call Stripe inside an open
transaction): (1) write our row with its idempotency key and commit; (2) call
Stripe with that key, first looking for what an interrupted earlier attempt
left there; (3) record the outcome and post the ledger in one transaction,
with a ledger idempotency key, so the API response, the webhook and any retry
all converge on one posting.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum

from accounts.models import User
from audit.services import record_event
from billing import ledger
from billing import stripe_gateway as gateway
from billing.models import (
    BookingCharge,
    ConnectedAccount,
    Dispute,
    LedgerAccount,
    LedgerTransaction,
    OfferingBillingPolicy,
    Payment,
    PaymentMethod,
    Payout,
    Refund,
    StripeCustomer,
)
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationFailed
from marketplace.lib.money import exponent, format_minor, prorate
from renters.models import RenterSettings

log = logging.getLogger(__name__)
K = LedgerAccount.Kind
TX = LedgerTransaction.Kind


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status_code = 402


class SpendLimitReached(DomainError):
    code = "spend_limit_reached"
    status_code = 402


class NoPaymentMethod(DomainError):
    code = "no_payment_method"
    status_code = 402


def _assert_no_open_transaction() -> None:
    """Stripe is never called inside a transaction of ours (the test case's own wrapper aside)."""
    ours = [a for a in getattr(connection, "atomic_blocks", []) if not getattr(a, "_from_testcase", False)]
    if ours:
        raise RuntimeError("billing: refusing to call Stripe inside an open database transaction")


def billing_mode() -> str:
    return settings.BILLING_MODE


def fee_basis_points() -> int:
    try:
        bps = Decimal(str(settings.PLATFORM_FEE_PERCENT)) * 100
    except InvalidOperation as exc:
        raise ValueError("PLATFORM_FEE_PERCENT must be a number") from exc
    if bps != bps.to_integral_value() or not 0 <= bps <= 10000:
        raise ValueError("PLATFORM_FEE_PERCENT must be 0-100 with at most two decimals")
    return int(bps)


def platform_fee(charge: int) -> int:
    return prorate(charge, fee_basis_points(), 10000)


def renter_currency(user: User) -> str:
    row = RenterSettings.objects.filter(user=user).only("currency").first()
    return row.currency if row else settings.BILLING_CURRENCY


# ---------------------------------------------------------------- customers and cards


def customer_ensure(*, user: User) -> StripeCustomer:
    """The user's Stripe customer, created once even if an earlier attempt died mid-call."""
    _assert_no_open_transaction()
    row, _ = StripeCustomer.objects.get_or_create(user=user)
    if row.stripe_id:
        return row
    key = row.idempotency_key
    remote = gateway.find_customer(email=user.email, idempotency_key=key) or gateway.create_customer(
        email=user.email, metadata={"user_id": str(user.pk), "idempotency_key": key}, idempotency_key=key
    )
    with transaction.atomic():
        StripeCustomer.objects.filter(pk=row.pk, stripe_id__isnull=True).update(stripe_id=remote["id"])
        row.refresh_from_db()
        record_event(actor=user, verb="billing.customer.created", target=row, data={"stripe_id": row.stripe_id})
    return row


def card_setup_start(*, actor: User) -> dict[str, str]:
    """Start adding a card: a SetupIntent whose client secret the browser confirms with Stripe.js."""
    if not actor.is_renter:
        raise PermissionDeniedError("Only renters add payment cards.")
    customer = customer_ensure(user=actor)
    intent = gateway.create_setup_intent(
        customer=customer.stripe_id or "",
        metadata={"user_id": str(actor.pk)},
        idempotency_key=f"customer-{customer.pk}-setup-{uuid.uuid4().hex}",
    )
    return {"setup_intent_id": intent["id"], "client_secret": intent["client_secret"]}


def card_setup_complete(*, actor: User, setup_intent_id: str) -> PaymentMethod:
    """Record the card a confirmed SetupIntent saved; the first card becomes the default."""
    _assert_no_open_transaction()
    customer = StripeCustomer.objects.filter(user=actor).first()
    if customer is None or not customer.stripe_id:
        raise NotFoundError("Start adding a card first.")
    try:
        intent = gateway.retrieve_setup_intent(setup_intent_id)
    except gateway.NotFound:
        raise NotFoundError("That card setup does not exist.")
    if intent.get("customer") != customer.stripe_id:
        raise PermissionDeniedError("That card setup belongs to someone else.")
    if intent.get("status") != "succeeded" or not intent.get("payment_method"):
        raise DomainError("The card was not confirmed; try again or use another card.", field="card")
    pm_id = intent["payment_method"]
    pm_id = pm_id["id"] if isinstance(pm_id, dict) else pm_id
    remote = gateway.retrieve_payment_method(pm_id)
    if not remote.get("customer"):
        remote = gateway.attach_payment_method(
            pm_id, customer=customer.stripe_id, idempotency_key=f"customer-{customer.pk}-attach-{pm_id}"
        )
    elif remote["customer"] != customer.stripe_id:
        raise PermissionDeniedError("That card belongs to someone else.")
    card = remote.get("card") or {}
    with transaction.atomic():
        has_default = PaymentMethod.objects.filter(user=actor, is_default=True, removed_at__isnull=True).exists()
        method, created = PaymentMethod.objects.get_or_create(
            stripe_id=pm_id,
            defaults={
                "user": actor,
                "brand": card.get("brand", ""),
                "last4": card.get("last4", ""),
                "exp_month": card.get("exp_month"),
                "exp_year": card.get("exp_year"),
                "is_default": not has_default,
            },
        )
        if method.user_id != actor.pk:
            raise PermissionDeniedError("That card belongs to someone else.")
        if created:
            record_event(actor=actor, verb="billing.card.added", target=method, data={"last4": method.last4})
    return method


@transaction.atomic
def payment_method_set_default(*, actor: User, payment_method_id: int) -> PaymentMethod:
    method = (
        PaymentMethod.objects.select_for_update()
        .filter(pk=payment_method_id, user=actor, removed_at__isnull=True)
        .first()
    )
    if method is None:
        raise NotFoundError("No such card.")
    PaymentMethod.objects.filter(user=actor, is_default=True).exclude(pk=method.pk).update(is_default=False)
    method.is_default = True
    method.save(update_fields=["is_default"])
    record_event(actor=actor, verb="billing.card.default", target=method)
    return method


def payment_method_remove(*, actor: User, payment_method_id: int) -> None:
    method = PaymentMethod.objects.filter(pk=payment_method_id, user=actor, removed_at__isnull=True).first()
    if method is None:
        raise NotFoundError("No such card.")
    if Payment.objects.filter(payment_method=method, status__in=["created", "pending", "requires_capture"]).exists():
        raise ConflictError("This card is paying for a booking in progress; remove it when the booking has ended.")
    with contextlib.suppress(gateway.NotFound):  # already gone on Stripe's side
        gateway.detach_payment_method(method.stripe_id)
    with transaction.atomic():
        method.removed_at = clock.now()
        method.is_default = False
        method.save(update_fields=["removed_at", "is_default"])
        record_event(actor=actor, verb="billing.card.removed", target=method, data={"last4": method.last4})


def default_payment_method(user: User) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(user=user, is_default=True, removed_at__isnull=True).first()


# ---------------------------------------------------------------- payments in


def topup_create(*, actor: User, amount: int, currency: str | None = None) -> Payment:
    """Record a prepaid top-up to be charged to the default card (the call happens after commit)."""
    if billing_mode() != "prepaid":
        raise DomainError("This marketplace charges your card per booking; there is no balance to top up.")
    if not actor.is_renter:
        raise PermissionDeniedError("Only renters top up a balance.")
    currency = currency or renter_currency(actor)
    exponent(currency)
    if not isinstance(amount, int) or amount < settings.BILLING_TOPUP_MINIMUM:
        raise ValidationFailed(
            {"amount": [f"The smallest top-up is {format_minor(settings.BILLING_TOPUP_MINIMUM, currency)}."]}
        )
    method = default_payment_method(actor)
    if method is None:
        raise NoPaymentMethod("Add a card before topping up.", field="amount")
    with transaction.atomic():
        payment = Payment.objects.create(
            user=actor,
            purpose=Payment.Purpose.TOPUP,
            amount=amount,
            currency=currency,
            payment_method=method,
            idempotency_key=f"pending-{uuid.uuid4().hex}",
        )
        payment.idempotency_key = f"payment-{payment.pk}-v1"
        payment.save(update_fields=["idempotency_key"])
        record_event(
            actor=actor, verb="billing.topup.created", target=payment, data={"amount": amount, "currency": currency}
        )
    return payment


def _customer_id(user: User) -> str:
    return customer_ensure(user=user).stripe_id or ""


def payment_process(*, payment_id: int) -> Payment:
    """Drive one payment to Stripe and back. Safe to run any number of times, concurrently or after a crash.

    Money moves only on *confirm*, and we confirm only a PaymentIntent whose id we
    committed first; an attempt that died between create and record is found
    again through our idempotency key in the intent's metadata.
    """
    _assert_no_open_transaction()
    payment = Payment.objects.select_related("payment_method", "user").get(pk=payment_id)
    if payment.status in Payment.FINAL or payment.status == Payment.Status.REQUIRES_CAPTURE:
        return payment_apply_remote(payment_id=payment.pk, remote=None)
    key = payment.idempotency_key
    remote: dict[str, Any] | None = None
    if not payment.stripe_payment_intent_id:
        earlier_attempt = payment.attempts > 0
        Payment.objects.filter(pk=payment.pk).update(attempts=F("attempts") + 1, updated_at=clock.now())
        if earlier_attempt:
            remote = gateway.find_payment_intent(idempotency_key=key)
        if remote is None:
            if payment.payment_method is None:
                return _payment_fail(payment.pk, "no_payment_method", "No card to charge.")
            remote = gateway.create_payment_intent(
                amount=payment.amount,
                currency=payment.currency,
                customer=_customer_id(payment.user),
                payment_method=payment.payment_method.stripe_id,
                capture_method="manual" if payment.purpose == Payment.Purpose.BOOKING else "automatic",
                metadata={
                    "idempotency_key": key,
                    "payment_id": str(payment.pk),
                    "purpose": payment.purpose,
                    "booking_id": str(payment.booking_id or ""),
                },
                idempotency_key=f"{key}-create",
            )
        Payment.objects.filter(pk=payment.pk, stripe_payment_intent_id__isnull=True).update(
            stripe_payment_intent_id=remote["id"], status=Payment.Status.PENDING, updated_at=clock.now()
        )
        payment.refresh_from_db()
    else:
        remote = gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if remote["status"] == "requires_confirmation":
        try:
            remote = gateway.confirm_payment_intent(remote["id"], idempotency_key=f"{key}-confirm")
        except gateway.CardDeclined as exc:
            remote = gateway.retrieve_payment_intent(remote["id"])
            if remote["status"] in ("requires_payment_method", "requires_confirmation"):
                return _payment_fail(payment.pk, exc.code or "card_declined", exc.message)
    return payment_apply_remote(payment_id=payment.pk, remote=remote)


def _payment_fail(payment_id: int, code: str, message: str) -> Payment:
    return payment_apply_remote(
        payment_id=payment_id,
        remote={"status": "requires_payment_method", "last_payment_error": {"code": code, "message": message}},
    )


_STATUS_RANK = {"created": 0, "pending": 1, "requires_capture": 2, "succeeded": 3, "failed": 3, "canceled": 3}


def _status_from_remote(remote: dict[str, Any]) -> str:
    status = remote.get("status")
    if status == "succeeded":
        return Payment.Status.SUCCEEDED
    if status == "requires_capture":
        return Payment.Status.REQUIRES_CAPTURE
    if status == "canceled":
        return Payment.Status.CANCELED
    if status == "requires_payment_method" and remote.get("last_payment_error"):
        return Payment.Status.FAILED
    return Payment.Status.PENDING


@transaction.atomic
def payment_apply_remote(*, payment_id: int, remote: dict[str, Any] | None) -> Payment:
    """Record what Stripe says about a payment (API response or webhook, in any order) and post the ledger once."""
    payment = Payment.objects.select_for_update().select_related("user").get(pk=payment_id)
    if remote is not None:
        new = _status_from_remote(remote)
        if _STATUS_RANK[new] > _STATUS_RANK[payment.status]:
            before = payment.status
            payment.status = new
            fields = ["status", "updated_at"]
            if remote.get("id") and not payment.stripe_payment_intent_id:
                payment.stripe_payment_intent_id = remote["id"]
                fields.append("stripe_payment_intent_id")
            if new == Payment.Status.FAILED:
                err = remote.get("last_payment_error") or {}
                payment.failure_code = (err.get("code") or "card_declined")[:100]
                payment.failure_message = (err.get("message") or "The card was declined.")[:500]
                fields += ["failure_code", "failure_message"]
            if new == Payment.Status.SUCCEEDED and payment.captured_amount is None:
                payment.captured_amount = remote.get("amount_received") or _intended_capture(payment)
                fields.append("captured_amount")
            payment.updated_at = clock.now()
            payment.save(update_fields=fields)
            record_event(
                actor=None,
                verb=f"billing.payment.{new}",
                target=payment,
                data={"before": before, "after": new, "stripe_id": payment.stripe_payment_intent_id},
                source="task",
            )
    _payment_post_ledger(payment)
    return payment


def _intended_capture(payment: Payment) -> int:
    if payment.purpose == Payment.Purpose.BOOKING:
        charge = BookingCharge.objects.filter(payment=payment).first()
        if charge is not None and charge.charged_amount is not None:
            return charge.charged_amount - min(charge.credit_amount, charge.charged_amount)
    return payment.amount


def _payment_post_ledger(payment: Payment) -> None:
    """The ledger side of a payment's state; each posting keyed, so calling this again changes nothing."""
    if payment.purpose == Payment.Purpose.TOPUP:
        if payment.status == Payment.Status.SUCCEEDED:
            amount = payment.captured_amount or payment.amount
            ledger.post_transaction(
                kind=TX.TOPUP,
                idempotency_key=f"payment-{payment.pk}-succeeded",
                lines=[
                    (ledger.account(K.STRIPE_CLEARING, payment.currency), amount),
                    (ledger.account(K.RENTER_BALANCE, payment.currency, payment.user), -amount),
                ],
                memo=f"Top-up {payment.stripe_payment_intent_id}",
            )
        return
    charge = BookingCharge.objects.select_for_update().filter(payment=payment).first()
    if charge is None:
        return
    if payment.status == Payment.Status.REQUIRES_CAPTURE and charge.state == BookingCharge.State.AUTHORIZING:
        _post_card_authorization(charge)
        _set_state(charge, BookingCharge.State.HELD)
    elif payment.status == Payment.Status.SUCCEEDED and charge.charged_amount is not None:
        _post_card_authorization(charge)
        _post_settlement(charge)
    elif payment.status in (Payment.Status.FAILED, Payment.Status.CANCELED):
        if charge.state == BookingCharge.State.SETTLING:
            # Nothing to capture (charge 0): the authorization is released.
            _post_hold_release(charge)
            _set_state(charge, BookingCharge.State.RELEASED)
        elif charge.state in (BookingCharge.State.AUTHORIZING, BookingCharge.State.HELD):
            if LedgerTransaction.objects.filter(idempotency_key=f"booking-{charge.booking_id}-hold").exists():
                _post_hold_release(charge)
            _set_state(charge, BookingCharge.State.FAILED)
            if payment.status == Payment.Status.FAILED:
                booking_id, message = charge.booking_id, payment.failure_message
                transaction.on_commit(lambda: _booking_payment_failed(booking_id, message))


def _booking_payment_failed(booking_id: int, message: str) -> None:
    from billing import integration

    try:
        integration.fail_booking_for_payment(booking_id, message)
    except Exception:
        log.warning("booking %s: payment failed, engine not told yet", booking_id, exc_info=True)


def _set_state(charge: BookingCharge, state: str) -> None:
    if charge.state != state:
        before = charge.state
        charge.state = state
        charge.updated_at = clock.now()
        charge.save(update_fields=["state", "updated_at"])
        record_event(
            actor=None,
            verb=f"billing.booking_charge.{state}",
            target=charge,
            data={"before": before, "after": state},
            source="task",
        )


# ---------------------------------------------------------------- booking holds and charges


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


@dataclass(frozen=True)
class BookingEnd:
    """How a booking ended. ``held_until``: when the renter's hold on the server stopped.

    ``outcome`` is one of completed, released, preempted, failed, rejected.
    For a preemption, ``notice_given_at`` and ``notice_deadline`` are when the owner gave notice and the
    deadline it set. From provisioning's metering: ``server_held_from`` / ``server_reclaimed_at`` bound the
    time the renter actually held a server (charged time never starts before it nor runs after it), and
    ``server_never_held`` says servers were launched for the booking but none ever reached the renter.
    """

    outcome: str
    held_until: datetime | None = None
    notice_given_at: datetime | None = None
    notice_deadline: datetime | None = None
    server_reclaimed_at: datetime | None = None
    server_held_from: datetime | None = None
    server_never_held: bool = False
    # (from, to, amount) when the price changed during the booking (a profile change): each part is
    # charged at its own price. Empty: one price for the whole slice.
    price_schedule: tuple[tuple[datetime, datetime, int], ...] = ()


def _month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def renter_month_spend(user: User, currency: str, at: datetime | None = None) -> int:
    """This month's charges plus open holds: what counts against the spend limit."""
    start = _month_start(at or clock.now())
    settled = (
        BookingCharge.objects.filter(
            renter=user, currency=currency, state=BookingCharge.State.SETTLED, updated_at__gte=start
        ).aggregate(s=Sum("charged_amount"))["s"]
        or 0
    )
    open_holds = (
        BookingCharge.objects.filter(
            renter=user,
            currency=currency,
            state__in=[BookingCharge.State.HELD, BookingCharge.State.AUTHORIZING, BookingCharge.State.SETTLING],
        ).aggregate(s=Sum("price"))["s"]
        or 0
    )
    return int(settled) + int(open_holds)


def funds_check(*, renter: User, amount: int, currency: str, committed: int = 0) -> None:
    """Refuse, with a reason the renter can act on, a booking they cannot pay for. Raises; returns None if fine.

    ``committed``: bookings already confirmed whose hold is not placed yet (they count as spent).
    """
    limit = RenterSettings.objects.filter(user=renter).values_list("spend_limit", flat=True).first()
    if limit is not None:
        spent = renter_month_spend(renter, currency) + committed
        if spent + amount > limit:
            raise SpendLimitReached(
                f"This booking ({format_minor(amount, currency)}) would take your spending this month to "
                f"{format_minor(spent + amount, currency)}, above your limit of {format_minor(limit, currency)}.",
                extra={"limit": limit, "spent": spent, "amount": amount, "currency": currency},
            )
    if billing_mode() == "prepaid":
        available = ledger.balance_of(K.RENTER_BALANCE, currency, renter) - committed
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
    return charge


def _post_card_authorization(charge: BookingCharge) -> None:
    ledger.post_transaction(
        kind=TX.CARD_AUTHORIZATION,
        idempotency_key=f"booking-{charge.booking_id}-hold",
        lines=[
            (ledger.account(K.CARD_AUTHORIZATIONS, charge.currency, charge.renter), charge.price),
            (ledger.account(K.RENTER_HOLDS, charge.currency, charge.renter), -charge.price),
        ],
        booking_id=charge.booking_id,
        offering_id=charge.offering_id,
        memo=f"Card authorized for booking #{charge.booking_id}",
    )


def _post_hold_release(charge: BookingCharge) -> None:
    other = K.RENTER_BALANCE if charge.mode == "prepaid" else K.CARD_AUTHORIZATIONS
    if not LedgerTransaction.objects.filter(idempotency_key=f"booking-{charge.booking_id}-hold").exists():
        return
    ledger.post_transaction(
        kind=TX.HOLD_RELEASE,
        idempotency_key=f"booking-{charge.booking_id}-charge",
        lines=[
            (ledger.account(K.RENTER_HOLDS, charge.currency, charge.renter), charge.price),
            (ledger.account(other, charge.currency, charge.renter), -charge.price),
        ],
        booking_id=charge.booking_id,
        offering_id=charge.offering_id,
        memo=f"Hold released for booking #{charge.booking_id} ({charge.outcome or 'nothing charged'})",
    )


def compute_charge(charge: BookingCharge, end: BookingEnd, *, credit_percent: int) -> tuple[int, int, int]:
    """(used seconds, charge, short-notice credit) for a booking that ended as ``end`` says.

    Per-second proration of the slice price, through marketplace.lib.money.prorate only.
    """
    c = charge
    slice_seconds = c.slice_seconds
    if end.outcome in ("failed", "rejected") or end.server_never_held:
        return 0, 0, 0
    stop = c.ends_at
    begin = c.starts_at
    if end.server_held_from is not None:
        begin = max(begin, end.server_held_from)  # not charged while the server was still being built
    if end.outcome == "released" and end.held_until is not None:
        stop = min(stop, end.held_until)
    if end.outcome == "preempted":
        deadline = end.notice_deadline or end.held_until or c.ends_at
        stop = min(stop, deadline)
    if end.server_reclaimed_at is not None:
        stop = min(stop, end.server_reclaimed_at)  # never charge for time after the server was reclaimed
    used = max(0, min(slice_seconds, int((stop - begin).total_seconds())))
    if (end.outcome == "released" and c.release_charge == "full") or used >= slice_seconds:
        amount = c.price
    elif end.price_schedule:
        amount = min(c.price, _schedule_value(end.price_schedule, begin, stop))
    else:
        amount = prorate(c.price, used, slice_seconds)
    credit = 0
    if end.outcome == "preempted" and end.notice_given_at is not None:
        promised = c.promised_notice_seconds
        deadline = end.notice_deadline or stop
        given = max(0, int((deadline - end.notice_given_at).total_seconds()))
        lost = max(0, int((c.ends_at - deadline).total_seconds()))
        short = max(0, min(promised - given, lost))
        if short:
            if end.price_schedule:  # the time lost after the deadline, at the price it would have cost
                window = (deadline, deadline + timedelta(seconds=short))
                credit = _schedule_value(end.price_schedule, *window, percent=credit_percent)
            else:
                credit = prorate(c.price, short * credit_percent, slice_seconds * 100)
    return used, amount, credit


def _schedule_value(
    schedule: tuple[tuple[datetime, datetime, int], ...], start: datetime, stop: datetime, *, percent: int = 100
) -> int:
    """``percent`` of what [start, stop) costs under a price schedule: each part prorated per second."""
    total = 0
    for begin, end, amount in schedule:
        overlap = int((min(end, stop) - max(begin, start)).total_seconds())
        length = int((end - begin).total_seconds())
        if overlap > 0 and length > 0:
            total += prorate(amount, overlap * percent, length * 100)
    return total


def credit_percent_for(offering_id: int) -> int:
    policy = OfferingBillingPolicy.objects.filter(offering_id=offering_id).first()
    return policy.short_notice_credit_percent if policy else 200


def booking_settle(*, booking_id: int, end: BookingEnd) -> BookingCharge:
    """Charge for a booking that ended: prorated per second, fee split, short-notice credit, failure refunded.

    Prepaid: one ledger transaction. Card per booking: record the amount, commit, capture on
    Stripe, then post (the capture is keyed; a retry re-reads the intent instead of capturing twice).
    """
    with transaction.atomic():
        charge = BookingCharge.objects.select_for_update().get(booking_id=booking_id)
        if charge.state in (BookingCharge.State.SETTLED, BookingCharge.State.RELEASED, BookingCharge.State.FAILED):
            return charge
        if charge.charged_amount is None:
            used, amount, credit = compute_charge(charge, end, credit_percent=credit_percent_for(charge.offering_id))
            charge.used_seconds = used
            charge.charged_amount = amount
            charge.fee_amount = platform_fee(amount)
            charge.credit_amount = credit if charge.mode == "prepaid" else min(credit, amount)
            charge.outcome = end.outcome
            charge.state = BookingCharge.State.SETTLING
            charge.updated_at = clock.now()
            charge.save(
                update_fields=[
                    "used_seconds",
                    "charged_amount",
                    "fee_amount",
                    "credit_amount",
                    "outcome",
                    "state",
                    "updated_at",
                ]
            )
            record_event(
                actor=None,
                verb="billing.charge.computed",
                target=charge,
                data={
                    "outcome": end.outcome,
                    "used_seconds": used,
                    "charge": amount,
                    "fee": charge.fee_amount,
                    "credit": credit,
                },
                source="task",
            )
        if charge.mode == "prepaid":
            _post_settlement(charge)
            return charge
    return _card_capture(charge)


def _card_capture(charge: BookingCharge) -> BookingCharge:
    _assert_no_open_transaction()
    payment = charge.payment
    assert payment is not None
    if payment.status in (Payment.Status.CREATED, Payment.Status.PENDING) and not payment.stripe_payment_intent_id:
        # Never authorized (the booking ended before the authorization ran): nothing to capture.
        with transaction.atomic():
            Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.CANCELED, updated_at=clock.now())
            locked = BookingCharge.objects.select_for_update().get(pk=charge.pk)
            _set_state(locked, BookingCharge.State.RELEASED)
        return BookingCharge.objects.get(pk=charge.pk)
    if payment.status in (Payment.Status.CREATED, Payment.Status.PENDING):
        payment_process(payment_id=payment.pk)
        payment.refresh_from_db()
    capture = (charge.charged_amount or 0) - charge.credit_amount
    pi = payment.stripe_payment_intent_id or ""
    remote: dict[str, Any] | None = None
    if payment.status == Payment.Status.REQUIRES_CAPTURE:
        remote = gateway.retrieve_payment_intent(pi)
        if remote["status"] == "requires_capture":
            if capture > 0:
                remote = gateway.capture_payment_intent(
                    pi, amount=capture, idempotency_key=f"{payment.idempotency_key}-capture"
                )
            else:
                remote = gateway.cancel_payment_intent(pi, idempotency_key=f"{payment.idempotency_key}-cancel")
        if remote.get("status") == "succeeded" and not remote.get("amount_received"):
            remote = {**remote, "amount_received": capture}
    payment_apply_remote(payment_id=payment.pk, remote=remote)
    return BookingCharge.objects.get(pk=charge.pk)


def _post_settlement(charge: BookingCharge) -> None:
    """Post the charge: hold closed, owner credited the charge minus the fee, platform the fee, any credit."""
    amount = charge.charged_amount or 0
    fee = charge.fee_amount or 0
    credit = charge.credit_amount
    cur, renter, owner = charge.currency, charge.renter, charge.owner
    holds = ledger.account(K.RENTER_HOLDS, cur, renter)
    balance = ledger.account(K.RENTER_BALANCE, cur, renter)
    payable = ledger.account(K.OWNER_PAYABLE, cur, owner)
    fees = ledger.account(K.PLATFORM_FEES, cur)
    common = {"booking_id": charge.booking_id, "offering_id": charge.offering_id}
    if credit:
        ledger.post_transaction(
            kind=TX.SHORT_NOTICE_CREDIT,
            idempotency_key=f"booking-{charge.booking_id}-short-notice-credit",
            lines=[(payable, credit), (balance, -credit)],
            memo=f"Short-notice preemption credit, booking #{charge.booking_id}",
            **common,
        )
    if amount == 0:
        _post_hold_release(charge)
        _set_state(charge, BookingCharge.State.RELEASED)
        return
    if charge.mode == "prepaid":
        lines = [(holds, charge.price), (balance, -(charge.price - amount)), (payable, -(amount - fee)), (fees, -fee)]
    else:
        capture = amount - credit
        lines = [
            (holds, charge.price),
            (ledger.account(K.CARD_AUTHORIZATIONS, cur, renter), -charge.price),
            (ledger.account(K.STRIPE_CLEARING, cur), capture),
            (balance, credit),  # the credit posted just above pays part of the charge
            (payable, -(amount - fee)),
            (fees, -fee),
        ]
    ledger.post_transaction(
        kind=TX.CHARGE,
        idempotency_key=f"booking-{charge.booking_id}-charge",
        lines=lines,
        memo=f"Booking #{charge.booking_id}: {charge.used_seconds}s of {charge.slice_seconds}s ({charge.outcome})",
        **common,
    )
    _set_state(charge, BookingCharge.State.SETTLED)


# ---------------------------------------------------------------- refunds and disputes


def refund_create(*, actor: User, payment_id: int, amount: int, reason: str) -> Refund:
    """Refund part or all of a payment to the card (staff only). Returns after Stripe answered."""
    if not actor.is_staff:
        raise PermissionDeniedError("Only staff refund payments.")
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["Say why the money is refunded."]})
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise NotFoundError("No such payment.")
        if payment.status != Payment.Status.SUCCEEDED:
            raise ConflictError("Only a succeeded payment can be refunded.")
        already = payment.refunds.exclude(status=Refund.Status.FAILED).aggregate(s=Sum("amount"))["s"] or 0
        refundable = (payment.captured_amount or payment.amount) - already
        if not 0 < amount <= refundable:
            raise ValidationFailed({"amount": [f"Between 1 and {refundable} minor units can be refunded."]})
        if payment.purpose == Payment.Purpose.TOPUP:
            acc = ledger.account(K.RENTER_BALANCE, payment.currency, payment.user)
            ledger.lock(acc)
            available = ledger.balance(acc)
            if available < amount:
                raise ConflictError(
                    f"The renter's balance is {format_minor(available, payment.currency)}: spent money cannot be refunded."
                )
        refund = Refund.objects.create(
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason=reason.strip(),
            actor=actor,
            idempotency_key=f"pending-{uuid.uuid4().hex}",
        )
        refund.idempotency_key = f"refund-{refund.pk}-v1"
        refund.save(update_fields=["idempotency_key"])
        if payment.purpose == Payment.Purpose.TOPUP:
            # Reserve the money now, so it cannot be spent while the refund is in flight.
            ledger.post_transaction(
                kind=TX.REFUND,
                idempotency_key=f"refund-{refund.pk}",
                lines=[(acc, amount), (ledger.account(K.STRIPE_CLEARING, payment.currency), -amount)],
                actor=actor,
                memo=f"Refund to card: {reason.strip()}"[:500],
            )
        record_event(
            actor=actor, verb="billing.refund.created", target=refund, data={"amount": amount, "reason": reason}
        )
    return refund_process(refund_id=refund.pk)


def refund_process(*, refund_id: int) -> Refund:
    _assert_no_open_transaction()
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != Refund.Status.CREATED:
        return refund
    pi = refund.payment.stripe_payment_intent_id or ""
    remote = next(
        (
            r
            for r in gateway.list_refunds(payment_intent=pi)
            if (r.get("metadata") or {}).get("idempotency_key") == refund.idempotency_key
        ),
        None,
    )
    if remote is None:
        try:
            remote = gateway.create_refund(
                payment_intent=pi,
                amount=refund.amount,
                metadata={"idempotency_key": refund.idempotency_key, "refund_id": str(refund.pk)},
                idempotency_key=refund.idempotency_key,
            )
        except gateway.GatewayTimeout:
            raise
        except gateway.GatewayError as exc:
            return refund_apply_remote(refund_id=refund.pk, remote={"status": "failed", "failure_reason": exc.message})
    return refund_apply_remote(refund_id=refund.pk, remote=remote)


@transaction.atomic
def refund_apply_remote(*, refund_id: int, remote: dict[str, Any]) -> Refund:
    refund = Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)
    if refund.status != Refund.Status.CREATED:
        return refund
    status = remote.get("status")
    if status == "succeeded":
        refund.status = Refund.Status.SUCCEEDED
        refund.stripe_refund_id = remote.get("id")
        if refund.payment.purpose == Payment.Purpose.BOOKING:
            ledger.post_transaction(
                kind=TX.REFUND,
                idempotency_key=f"refund-{refund.pk}",
                lines=[
                    (ledger.account(K.PLATFORM_ADJUSTMENTS, refund.currency), refund.amount),
                    (ledger.account(K.STRIPE_CLEARING, refund.currency), -refund.amount),
                ],
                actor=refund.actor,
                booking_id=refund.payment.booking_id,
                memo=f"Refund to card: {refund.reason}"[:500],
            )
    elif status in ("failed", "canceled"):
        refund.status = Refund.Status.FAILED
        refund.failure_message = str(remote.get("failure_reason") or status)[:500]
        if refund.payment.purpose == Payment.Purpose.TOPUP:
            payment = refund.payment
            ledger.post_transaction(
                kind=TX.ADJUSTMENT,
                idempotency_key=f"refund-{refund.pk}-failed",
                lines=[
                    (ledger.account(K.STRIPE_CLEARING, payment.currency), refund.amount),
                    (ledger.account(K.RENTER_BALANCE, payment.currency, payment.user), -refund.amount),
                ],
                memo="Refund failed: money returned to balance",
            )
    else:
        return refund
    refund.updated_at = clock.now()
    refund.save(update_fields=["status", "stripe_refund_id", "failure_message", "updated_at"])
    record_event(
        actor=None,
        verb=f"billing.refund.{refund.status}",
        target=refund,
        data={"stripe_id": refund.stripe_refund_id},
        source="task",
    )
    return refund


@transaction.atomic
def dispute_record(*, remote: dict[str, Any]) -> Dispute:
    """A dispute opened or closed: the disputed money leaves (and, if won, returns to) our Stripe balance."""
    pi = remote.get("payment_intent")
    payment = Payment.objects.filter(stripe_payment_intent_id=pi).first() if pi else None
    dispute, created = Dispute.objects.select_for_update().get_or_create(
        stripe_id=remote["id"],
        defaults={
            "payment": payment,
            "amount": int(remote["amount"]),
            "currency": str(remote["currency"]).upper(),
            "status": remote.get("status", ""),
            "reason": remote.get("reason", "") or "",
        },
    )
    if not created and dispute.status != remote.get("status"):
        dispute.status = remote.get("status", "")
        dispute.updated_at = clock.now()
        dispute.save(update_fields=["status", "updated_at"])
    disputes = ledger.account(K.DISPUTES, dispute.currency)
    clearing = ledger.account(K.STRIPE_CLEARING, dispute.currency)
    ledger.post_transaction(
        kind=TX.DISPUTE,
        idempotency_key=f"dispute-{dispute.stripe_id}-opened",
        lines=[(disputes, dispute.amount), (clearing, -dispute.amount)],
        memo=f"Dispute {dispute.stripe_id} ({dispute.reason})",
    )
    if dispute.status == "won":
        ledger.post_transaction(
            kind=TX.DISPUTE_WON,
            idempotency_key=f"dispute-{dispute.stripe_id}-won",
            lines=[(clearing, dispute.amount), (disputes, -dispute.amount)],
            memo=f"Dispute {dispute.stripe_id} won",
        )
    record_event(
        actor=None, verb="billing.dispute.updated", target=dispute, data={"status": dispute.status}, source="task"
    )
    return dispute


# ---------------------------------------------------------------- owners: Connect and payouts


def connect_onboard(*, actor: User, refresh_url: str, return_url: str) -> str:
    """The Stripe-hosted onboarding link for the owner's connected account (created once)."""
    if not actor.is_owner:
        raise PermissionDeniedError("Only owners receive payouts.")
    _assert_no_open_transaction()
    row, _ = ConnectedAccount.objects.get_or_create(user=actor)
    if not row.stripe_account_id:
        remote = gateway.create_connected_account(
            email=actor.email,
            metadata={"user_id": str(actor.pk), "idempotency_key": row.idempotency_key},
            idempotency_key=row.idempotency_key,
        )
        with transaction.atomic():
            ConnectedAccount.objects.filter(pk=row.pk, stripe_account_id__isnull=True).update(
                stripe_account_id=remote["id"], updated_at=clock.now()
            )
            row.refresh_from_db()
            record_event(
                actor=actor, verb="billing.connect.created", target=row, data={"stripe_id": row.stripe_account_id}
            )
    link = gateway.create_account_link(
        account=row.stripe_account_id or "", refresh_url=refresh_url, return_url=return_url
    )
    return link["url"]


def connect_refresh(*, user: User, remote: dict[str, Any] | None = None) -> ConnectedAccount:
    row = ConnectedAccount.objects.filter(user=user).first()
    if row is None or not row.stripe_account_id:
        raise NotFoundError("No connected account yet.")
    if remote is None:
        _assert_no_open_transaction()
        remote = gateway.retrieve_connected_account(row.stripe_account_id)
    with transaction.atomic():
        row = ConnectedAccount.objects.select_for_update().get(pk=row.pk)
        before = (row.details_submitted, row.payouts_enabled)
        row.details_submitted = bool(remote.get("details_submitted"))
        row.payouts_enabled = bool(remote.get("payouts_enabled"))
        if before != (row.details_submitted, row.payouts_enabled):
            row.updated_at = clock.now()
            row.save(update_fields=["details_submitted", "payouts_enabled", "updated_at"])
            record_event(
                actor=None,
                verb="billing.connect.updated",
                target=row,
                data={"details_submitted": row.details_submitted, "payouts_enabled": row.payouts_enabled},
                source="task",
            )
    return row


def owner_payable(owner: User, currency: str) -> int:
    return ledger.balance_of(K.OWNER_PAYABLE, currency, owner)


def payout_request(*, actor: User | None, owner: User, currency: str, trigger: str) -> Payout:
    """Pay the owner's earnings above the minimum to their connected account. One payout in flight at a time."""
    if actor is not None and actor.pk != owner.pk and not actor.is_staff:
        raise PermissionDeniedError("You can only request your own payouts.")
    account = ConnectedAccount.objects.filter(user=owner).first()
    if account is None or not account.stripe_account_id or not account.payouts_enabled:
        raise DomainError("Finish Stripe onboarding before requesting a payout.")
    with transaction.atomic():
        payable = ledger.account(K.OWNER_PAYABLE, currency, owner)
        ledger.lock(payable)
        if Payout.objects.filter(owner=owner, currency=currency, status__in=["created", "pending"]).exists():
            raise ConflictError("A payout is already on its way.")
        amount = ledger.balance(payable)
        if amount < settings.PAYOUT_MINIMUM or amount <= 0:
            raise DomainError(
                f"Your earnings ({format_minor(amount, currency)}) are below the payout minimum of "
                f"{format_minor(settings.PAYOUT_MINIMUM, currency)}."
            )
        payout = Payout.objects.create(
            owner=owner,
            amount=amount,
            currency=currency,
            trigger=trigger,
            idempotency_key=f"pending-{uuid.uuid4().hex}",
        )
        payout.idempotency_key = f"payout-{payout.pk}-v1"
        payout.save(update_fields=["idempotency_key"])
        # Earnings leave the payable account now, so they cannot be paid twice; a failure posts them back.
        ledger.post_transaction(
            kind=TX.PAYOUT,
            idempotency_key=f"payout-{payout.pk}",
            lines=[(payable, amount), (ledger.account(K.STRIPE_CLEARING, currency), -amount)],
            actor=actor,
            memo=f"Payout #{payout.pk} ({trigger})",
        )
        record_event(
            actor=actor,
            verb="billing.payout.created",
            target=payout,
            data={"amount": amount, "currency": currency, "trigger": trigger},
        )
    return payout


def payout_process(*, payout_id: int) -> Payout:
    _assert_no_open_transaction()
    payout = Payout.objects.select_related("owner").get(pk=payout_id)
    if payout.status not in (Payout.Status.CREATED, Payout.Status.PENDING):
        return payout
    if payout.stripe_transfer_id:
        return payout_apply_remote(payout_id=payout.pk, remote={"id": payout.stripe_transfer_id, "reversed": False})
    earlier_attempt = payout.status == Payout.Status.PENDING
    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.PENDING, updated_at=clock.now())
    remote = gateway.find_transfer(idempotency_key=payout.idempotency_key) if earlier_attempt else None
    if remote is None:
        destination = ConnectedAccount.objects.get(user=payout.owner).stripe_account_id or ""
        try:
            remote = gateway.create_transfer(
                amount=payout.amount,
                currency=payout.currency,
                destination=destination,
                metadata={"idempotency_key": payout.idempotency_key, "payout_id": str(payout.pk)},
                idempotency_key=payout.idempotency_key,
            )
        except gateway.GatewayTimeout:
            raise
        except gateway.GatewayError as exc:
            return payout_apply_remote(payout_id=payout.pk, remote=None, failure=exc.message)
    return payout_apply_remote(payout_id=payout.pk, remote=remote)


@transaction.atomic
def payout_apply_remote(*, payout_id: int, remote: dict[str, Any] | None, failure: str = "") -> Payout:
    payout = Payout.objects.select_for_update().get(pk=payout_id)
    before = payout.status
    if remote is not None and remote.get("reversed"):
        payout.status = Payout.Status.REVERSED
    elif remote is not None:
        payout.status = (
            Payout.Status.PAID if payout.status in (Payout.Status.CREATED, Payout.Status.PENDING) else payout.status
        )
        payout.stripe_transfer_id = payout.stripe_transfer_id or remote.get("id")
    else:
        payout.status = Payout.Status.FAILED
        payout.failure_message = failure[:500]
    if payout.status in (Payout.Status.FAILED, Payout.Status.REVERSED):
        ledger.post_transaction(
            kind=TX.PAYOUT_REVERSAL,
            idempotency_key=f"payout-{payout.pk}-returned",
            lines=[
                (ledger.account(K.STRIPE_CLEARING, payout.currency), payout.amount),
                (ledger.account(K.OWNER_PAYABLE, payout.currency, payout.owner), -payout.amount),
            ],
            memo=f"Payout #{payout.pk} {payout.status}: earnings returned to payable",
        )
    if payout.status != before:
        payout.updated_at = clock.now()
        payout.save(update_fields=["status", "stripe_transfer_id", "failure_message", "updated_at"])
        record_event(
            actor=None, verb=f"billing.payout.{payout.status}", target=payout, data={"before": before}, source="task"
        )
    return payout


def payouts_due() -> list[tuple[int, str]]:
    """(owner id, currency) of owners with payouts enabled and earnings at or above the minimum."""
    from django.db.models import Q

    rows = []
    enabled = ConnectedAccount.objects.filter(payouts_enabled=True).values_list("user_id", flat=True)
    for acc in LedgerAccount.objects.filter(kind=K.OWNER_PAYABLE, user_id__in=list(enabled)):
        if (
            ledger.balance(acc) >= max(settings.PAYOUT_MINIMUM, 1)
            and not Payout.objects.filter(
                Q(owner_id=acc.user_id) & Q(currency=acc.currency) & Q(status__in=["created", "pending"])
            ).exists()
        ):
            rows.append((int(acc.user_id or 0), acc.currency))
    return rows


# ---------------------------------------------------------------- admin: manual adjustments


ADJUSTABLE = {K.RENTER_BALANCE: "renter", K.OWNER_PAYABLE: "owner"}


def adjustment_post(
    *, actor: User, user: User, account_kind: str, amount: int, currency: str, reason: str, idempotency_key: str
) -> LedgerTransaction:
    """A staff credit (amount > 0) or debit (< 0) to a renter's balance or owner's earnings, against platform adjustments."""
    if not actor.is_staff:
        raise PermissionDeniedError("Only staff post adjustments.")
    if account_kind not in ADJUSTABLE:
        raise ValidationFailed({"account_kind": ["Adjust a renter balance or an owner's earnings."]})
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["An adjustment needs a reason."]})
    if not isinstance(amount, int) or amount == 0:
        raise ValidationFailed({"amount": ["The amount must be a non-zero number of minor units."]})
    exponent(currency)
    with transaction.atomic():
        replay = LedgerTransaction.objects.filter(idempotency_key=f"adjustment-{idempotency_key}").first()
        if replay is not None:
            return replay  # a double submit of the same form: already posted and audited
        target = ledger.account(account_kind, currency, user)
        txn = ledger.post_transaction(
            kind=TX.ADJUSTMENT,
            idempotency_key=f"adjustment-{idempotency_key}",
            lines=[(ledger.account(K.PLATFORM_ADJUSTMENTS, currency), amount), (target, -amount)],
            actor=actor,
            memo=reason.strip(),
        )
        record_event(
            actor=actor,
            verb="billing.adjustment.posted",
            target=txn,
            data={
                "user": user.pk,
                "account": account_kind,
                "amount": amount,
                "currency": currency,
                "reason": reason.strip(),
            },
            source="admin",
        )
    return txn


# ---------------------------------------------------------------- owners: short-notice credit multiple


@transaction.atomic
def offering_billing_policy_set(
    *, actor: User, offering_id: int, short_notice_credit_percent: int
) -> OfferingBillingPolicy:
    """The owner's promise, shown to renters before they buy: missing notice is credited at this % of the rate."""
    from owners.models import Offering

    offering = Offering.objects.filter(pk=offering_id).first()
    if offering is None or (offering.owner_id != actor.pk and not actor.is_staff):
        raise NotFoundError("No such offering.")
    if not isinstance(short_notice_credit_percent, int) or not 100 <= short_notice_credit_percent <= 1000:
        raise ValidationFailed({"short_notice_credit_percent": ["Choose between 100 % (1x) and 1000 % (10x)."]})
    policy, _ = OfferingBillingPolicy.objects.select_for_update().get_or_create(offering=offering)
    before = policy.short_notice_credit_percent
    policy.short_notice_credit_percent = short_notice_credit_percent
    policy.updated_at = clock.now()
    policy.save(update_fields=["short_notice_credit_percent", "updated_at"])
    record_event(
        actor=actor,
        verb="billing.policy.updated",
        target=policy,
        data={"before": before, "after": short_notice_credit_percent},
    )
    return policy
