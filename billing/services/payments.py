"""Payments in: prepaid top-ups and the card payment of a booking, driven to Stripe and back."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from accounts.models import User
from audit.services import record_event
from billing import hooks, ledger, selectors
from billing import stripe_gateway as gateway
from billing.models import BookingCharge, LedgerTransaction, Payment
from billing.services.common import (
    TX,
    K,
    NoPaymentMethod,
    assert_no_open_transaction,
    billing_mode,
    operator_maximum,
    renter_currency,
)
from billing.services.customers import customer_ensure, default_payment_method
from billing.services.postings import post_card_authorization, post_hold_release, post_settlement, set_state
from marketplace.lib import clock, enqueue
from marketplace.lib.errors import DomainError, PermissionDeniedError, ValidationFailed
from marketplace.lib.money import exponent, format_minor


def topup_create(*, actor: User, amount: int, currency: str | None = None) -> Payment:
    """Record a prepaid top-up to be charged to the default card (the call happens after commit)."""
    if billing_mode() != "prepaid":
        raise DomainError("This marketplace charges your card per booking; there is no balance to top up.")
    if not actor.is_renter:
        raise PermissionDeniedError("Only renters top up a balance.")
    currency = currency or renter_currency(actor)
    exponent(currency)
    allowed = selectors.topup_currencies(actor)
    if currency not in allowed:
        raise ValidationFailed({"currency": [f"Top up in a currency this market sells in: {', '.join(allowed)}."]})
    if not isinstance(amount, int) or amount < settings.BILLING_TOPUP_MINIMUM:
        raise ValidationFailed(
            {"amount": [f"The smallest top-up is {format_minor(settings.BILLING_TOPUP_MINIMUM, currency)}."]}
        )
    top = operator_maximum(settings.BILLING_TOPUP_MAX, currency)
    if top is not None and amount > top:
        raise ValidationFailed({"amount": [f"The largest top-up is {format_minor(top, currency)}."]})
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
    assert_no_open_transaction()
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


def payment_submit(*, payment: Payment) -> tuple[Payment, bool]:
    """Charge a payment now or, if Stripe cannot be reached, leave it to a worker. Returns (payment, queued).

    Queued: ``process_payment`` is sent after commit (``sweep_payments`` drives the payment again if that
    message is lost) and the payment is returned as it was given.
    """
    try:
        return payment_process(payment_id=payment.pk), False
    except gateway.GatewayError:
        enqueue.send_on_commit("billing.tasks.process_payment", payment.pk)
        return payment, True


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
            if new == Payment.Status.FAILED:
                hooks.billing_event(
                    "payment_failed",
                    user_id=payment.user_id,
                    booking_id=payment.booking_id,
                    payment=payment.pk,
                    amount=payment.amount,
                    currency=payment.currency,
                    message=payment.failure_message,
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
        post_card_authorization(charge)
        set_state(charge, BookingCharge.State.HELD)
    elif payment.status == Payment.Status.SUCCEEDED and charge.charged_amount is not None:
        post_card_authorization(charge)
        post_settlement(charge)
    elif payment.status in (Payment.Status.FAILED, Payment.Status.CANCELED):
        if charge.state == BookingCharge.State.SETTLING:
            # Nothing to capture (charge 0): the authorization is released.
            post_hold_release(charge)
            set_state(charge, BookingCharge.State.RELEASED)
        elif charge.state in (BookingCharge.State.AUTHORIZING, BookingCharge.State.HELD):
            if LedgerTransaction.objects.filter(idempotency_key=f"booking-{charge.booking_id}-hold").exists():
                post_hold_release(charge)
            set_state(charge, BookingCharge.State.FAILED)
            if payment.status == Payment.Status.FAILED:
                booking_id, message = charge.booking_id, payment.failure_message
                transaction.on_commit(lambda: hooks.booking_payment_failed(booking_id, message))
