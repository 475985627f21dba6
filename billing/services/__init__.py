"""Billing writes: payments in, booking holds and charges, refunds, credits, payouts, adjustments.

The rule every Stripe-facing service follows (never call Stripe inside an open
transaction): (1) write our row with its idempotency key and commit; (2) call
Stripe with that key, first looking for what an interrupted earlier attempt
left there; (3) record the outcome and post the ledger in one transaction,
with a ledger idempotency key, so the API response, the webhook and any retry
all converge on one posting.

One module per concern, re-exported here (callers use ``from billing import services``):
``customers`` (Stripe customers, cards), ``payments`` (top-ups, card payments), ``holds``
(funds check, booking holds), ``settlement`` (a booking's charge), ``refunds`` (and disputes),
``payouts`` (Connect, payouts), ``adjustments`` (staff credits and debits), ``approvals`` (staff money
operations above a threshold wait for a second staff member); ``postings`` holds the
ledger side of a booking's charge that several of them share. The arithmetic is in ``billing.charges``.
Services never import ``billing.tasks``: work for a worker is sent by name (``marketplace.lib.enqueue``).
"""

from billing.charges import BookingEnd, compute_charge, fee_basis_points, platform_fee
from billing.services.adjustments import ADJUSTABLE, adjustment_post
from billing.services.approvals import (
    Submitted,
    approval_threshold,
    money_operation_approve,
    money_operation_reject,
    money_operation_submit,
)
from billing.services.common import (
    InsufficientFunds,
    NoPaymentMethod,
    SpendLimitReached,
    billing_mode,
    operator_maximum,
    renter_currency,
    require_money_permission,
)
from billing.services.customers import (
    card_setup_complete,
    card_setup_start,
    customer_ensure,
    default_payment_method,
    payment_method_remove,
    payment_method_set_default,
)
from billing.services.holds import (
    BookingFacts,
    booking_hold_adjust,
    booking_hold_place,
    funds_check,
    renter_month_spend,
)
from billing.services.payments import payment_apply_remote, payment_process, payment_submit, topup_create
from billing.services.payouts import (
    connect_onboard,
    connect_refresh,
    payout_apply_remote,
    payout_process,
    payout_request,
    payout_submit,
    payouts_due,
)
from billing.services.refunds import dispute_record, refund_apply_remote, refund_create, refund_process
from billing.services.settlement import booking_settle, credit_percent_for, offering_billing_policy_set
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationFailed

__all__ = [
    "ADJUSTABLE",
    "BookingEnd",
    "BookingFacts",
    "ConflictError",
    "DomainError",
    "InsufficientFunds",
    "NoPaymentMethod",
    "NotFoundError",
    "PermissionDeniedError",
    "SpendLimitReached",
    "Submitted",
    "ValidationFailed",
    "adjustment_post",
    "approval_threshold",
    "billing_mode",
    "booking_hold_adjust",
    "booking_hold_place",
    "booking_settle",
    "card_setup_complete",
    "card_setup_start",
    "compute_charge",
    "connect_onboard",
    "connect_refresh",
    "credit_percent_for",
    "customer_ensure",
    "default_payment_method",
    "dispute_record",
    "fee_basis_points",
    "funds_check",
    "money_operation_approve",
    "money_operation_reject",
    "money_operation_submit",
    "offering_billing_policy_set",
    "operator_maximum",
    "payment_apply_remote",
    "payment_method_remove",
    "payment_method_set_default",
    "payment_process",
    "payment_submit",
    "payout_apply_remote",
    "payout_process",
    "payout_request",
    "payout_submit",
    "payouts_due",
    "platform_fee",
    "refund_apply_remote",
    "refund_create",
    "refund_process",
    "renter_currency",
    "renter_month_spend",
    "require_money_permission",
    "topup_create",
]
