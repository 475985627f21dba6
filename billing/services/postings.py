"""The ledger side of a booking's charge: card authorization, hold release, settlement, and the charge's state.

Shared by holds, payments (a card authorized or captured) and settlement; each posting is keyed, so
posting again changes nothing.
"""

from __future__ import annotations

from audit.services import record_event
from billing import ledger
from billing.models import BookingCharge, LedgerTransaction
from billing.services.common import TX, K
from marketplace.lib import clock


def post_card_authorization(charge: BookingCharge) -> None:
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


def post_hold_release(charge: BookingCharge) -> None:
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


def post_settlement(charge: BookingCharge) -> None:
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
        post_hold_release(charge)
        set_state(charge, BookingCharge.State.RELEASED)
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
    set_state(charge, BookingCharge.State.SETTLED)


def set_state(charge: BookingCharge, state: str) -> None:
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
