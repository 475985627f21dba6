"""What every billing service shares: its domain errors, the billing mode, the no-open-transaction rule."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from django.db import connection

from accounts.models import User
from billing import selectors
from billing.models import LedgerAccount, LedgerTransaction
from marketplace.lib.errors import DomainError, PermissionDeniedError
from marketplace.lib.money import exponent, to_minor

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


class PaymentProviderError(DomainError):
    """Stripe could not be reached or failed the call: a 502 in the API's error shape, never a 500."""

    code = "payment_provider_error"
    status_code = 502


# The permission each staff money operation needs (issue 14 item 4): staff status alone moves no money.
MONEY_PERMISSIONS = {
    "adjustment": ("billing.post_adjustment", "post manual ledger adjustments"),
    "refund": ("billing.refund_payment", "refund payments"),
    "payout": ("billing.payout_on_demand", "pay out owners' earnings on demand"),
}


def require_money_permission(actor: User | None, operation: str) -> None:
    """Refuse a staff money operation to anyone not staff or without that operation's permission."""
    codename, what = MONEY_PERMISSIONS[operation]
    if actor is None or not actor.is_active or not actor.is_staff or not actor.has_perm(codename):
        raise PermissionDeniedError(f"You may not {what}: it needs the {codename} permission.")


def assert_no_open_transaction() -> None:
    """Stripe is never called inside a transaction of ours (the test case's own wrapper aside)."""
    ours = [a for a in getattr(connection, "atomic_blocks", []) if not getattr(a, "_from_testcase", False)]
    if ours:
        raise RuntimeError("billing: refusing to call Stripe inside an open database transaction")


def billing_mode() -> str:
    return settings.BILLING_MODE


def renter_currency(user: User) -> str:
    """The renter's default currency: it follows the offerings they buy (``selectors.renter_default_currency``)."""
    return selectors.renter_default_currency(user)


def operator_maximum(bound: Mapping[str, str] | str | int | None, currency: str) -> int | None:
    """An operator's maximum (``BILLING_TOPUP_MAX``, ``BILLING_SPEND_LIMIT_MAX``: major units, one number or
    per currency with ``*`` for the rest) in minor units of ``currency``; None when it sets none."""
    if bound is None:
        return None
    value = bound.get(currency, bound.get("*")) if isinstance(bound, Mapping) else bound
    if value is None:
        return None
    return to_minor(Decimal(str(value)).quantize(Decimal(1).scaleb(-exponent(currency))), currency)
