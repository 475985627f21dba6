"""Settling a booking that ended: its charge computed once, then posted (prepaid) or captured on the card.

Also the owner's short-notice credit multiple, which settlement reads.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from audit.services import record_event
from billing import hooks
from billing import stripe_gateway as gateway
from billing.charges import BookingEnd, compute_charge, platform_fee
from billing.models import BookingCharge, OfferingBillingPolicy, Payment
from billing.services.common import assert_no_open_transaction
from billing.services.payments import payment_apply_remote, payment_process
from billing.services.postings import post_settlement, set_state
from marketplace.lib import clock
from marketplace.lib.errors import NotFoundError, ValidationFailed
from marketplace.lib.staff import staff_may


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
            hooks.billing_event(
                "charge_computed",
                user_id=charge.renter_id,
                booking_id=charge.booking_id,
                amount=amount,
                currency=charge.currency,
                outcome=end.outcome,
                used_seconds=used,
                credit=charge.credit_amount,
            )
        if charge.mode == "prepaid":
            post_settlement(charge)
            return charge
    return _card_capture(charge)


def _card_capture(charge: BookingCharge) -> BookingCharge:
    assert_no_open_transaction()
    payment = charge.payment
    assert payment is not None
    if payment.status in (Payment.Status.CREATED, Payment.Status.PENDING) and not payment.stripe_payment_intent_id:
        # Never authorized (the booking ended before the authorization ran): nothing to capture.
        with transaction.atomic():
            Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.CANCELED, updated_at=clock.now())
            locked = BookingCharge.objects.select_for_update().get(pk=charge.pk)
            set_state(locked, BookingCharge.State.RELEASED)
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


@transaction.atomic
def offering_billing_policy_set(
    *, actor: User, offering_id: int, short_notice_credit_percent: int
) -> OfferingBillingPolicy:
    """The owner's promise, shown to renters before they buy: missing notice is credited at this % of the rate."""
    from owners.models import Offering

    offering = Offering.objects.filter(pk=offering_id).first()
    if offering is None or (
        offering.owner_id != actor.pk and not staff_may(actor, "billing.change_offeringbillingpolicy")
    ):
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
