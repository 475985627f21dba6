"""Refunds of payments to the card (staff), and disputes opened on them."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Sum

from accounts.models import User
from audit.services import record_event
from billing import ledger
from billing import stripe_gateway as gateway
from billing.models import Dispute, Payment, Refund
from billing.services.common import TX, K, assert_no_open_transaction, require_money_permission
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, NotFoundError, ValidationFailed
from marketplace.lib.money import format_minor


def refund_create(*, actor: User, payment_id: int, amount: int, reason: str) -> Refund:
    """Refund part or all of a payment to the card (staff with ``billing.refund_payment``). Returns after
    Stripe answered. Staff doors go through ``money_operation_submit`` (approval above the threshold)."""
    require_money_permission(actor, "refund")
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
            cur = payment.currency
            message = (
                f"Between {format_minor(1, cur)} and {format_minor(refundable, cur)} can be refunded."
                if refundable > 0
                else "Nothing is left to refund on this payment."
            )
            raise ValidationFailed({"amount": [message]})
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
    assert_no_open_transaction()
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
