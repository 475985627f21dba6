"""What every billing service shares: its domain errors, the billing mode, the no-open-transaction rule."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from accounts.models import User
from billing.models import LedgerAccount, LedgerTransaction
from marketplace.lib.errors import DomainError
from renters.models import RenterSettings

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


def assert_no_open_transaction() -> None:
    """Stripe is never called inside a transaction of ours (the test case's own wrapper aside)."""
    ours = [a for a in getattr(connection, "atomic_blocks", []) if not getattr(a, "_from_testcase", False)]
    if ours:
        raise RuntimeError("billing: refusing to call Stripe inside an open database transaction")


def billing_mode() -> str:
    return settings.BILLING_MODE


def renter_currency(user: User) -> str:
    row = RenterSettings.objects.filter(user=user).only("currency").first()
    return row.currency if row else settings.BILLING_CURRENCY
