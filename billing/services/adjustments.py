"""Staff adjustments: a credit or debit to a renter's balance or an owner's earnings."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from audit.services import record_event
from billing import ledger
from billing.models import LedgerTransaction
from billing.services.common import TX, K, require_money_permission
from marketplace.lib.errors import ValidationFailed
from marketplace.lib.money import exponent

ADJUSTABLE = {K.RENTER_BALANCE: "renter", K.OWNER_PAYABLE: "owner"}


def adjustment_post(
    *, actor: User, user: User, account_kind: str, amount: int, currency: str, reason: str, idempotency_key: str
) -> LedgerTransaction:
    """A staff credit (amount > 0) or debit (< 0) to a renter's balance or owner's earnings, against platform adjustments.

    Needs ``billing.post_adjustment``. Staff doors go through ``money_operation_submit``, which asks a
    second staff member's approval above BILLING_APPROVAL_THRESHOLD before this runs."""
    require_money_permission(actor, "adjustment")
    if account_kind not in ADJUSTABLE:
        raise ValidationFailed({"account_kind": ["Adjust a renter balance or an owner's earnings."]})
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["An adjustment needs a reason."]})
    if not isinstance(amount, int) or amount == 0:
        raise ValidationFailed({"amount": ["Enter an amount other than zero (negative debits the user)."]})
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
