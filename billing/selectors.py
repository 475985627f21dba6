"""Billing reads, restricted to what the user may see, and statements built from the ledger."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from billing import ledger
from billing.charges import fee_basis_points
from billing.models import (
    BookingCharge,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    OfferingBillingPolicy,
    Payment,
    PaymentMethod,
    Payout,
)
from marketplace.lib import clock
from marketplace.lib.money import prorate

K = LedgerAccount.Kind
TX = LedgerTransaction.Kind
RENTER_KINDS = (K.RENTER_BALANCE, K.RENTER_HOLDS, K.CARD_AUTHORIZATIONS)


def payment_methods(user: Any) -> QuerySet[PaymentMethod]:
    return PaymentMethod.objects.filter(user=user, removed_at__isnull=True)


def payments(user: Any) -> QuerySet[Payment]:
    return Payment.objects.filter(user=user)


def booking_charges(user: Any) -> QuerySet[BookingCharge]:
    return BookingCharge.objects.filter(renter=user)


def payouts(owner: Any) -> QuerySet[Payout]:
    return Payout.objects.filter(owner=owner)


def renter_summary(user: Any, currency: str) -> dict[str, int]:
    return {
        "available": ledger.balance_of(K.RENTER_BALANCE, currency, user),
        "held": ledger.balance_of(K.RENTER_HOLDS, currency, user),
    }


def running_cost(charge: BookingCharge, now: datetime | None = None) -> int:
    """What a booking has cost so far: settled amount, or live per-second proration while it runs."""
    if charge.charged_amount is not None and charge.state in (
        BookingCharge.State.SETTLED,
        BookingCharge.State.RELEASED,
    ):
        return charge.charged_amount
    now = now or clock.now()
    elapsed = int((min(now, charge.ends_at) - charge.starts_at).total_seconds())
    if elapsed <= 0:
        return 0
    return prorate(charge.price, min(elapsed, charge.slice_seconds), charge.slice_seconds)


@dataclass(frozen=True)
class StatementLine:
    at: datetime
    kind: str
    description: str
    booking_id: int | None
    amount: int  # signed, from the renter's point of view: + money in, - money spent
    currency: str


def _month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=clock.now().tzinfo)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=start.tzinfo)
    return start, end


def renter_statement(user: Any, year: int, month: int) -> list[StatementLine]:
    """The month's money movements of a renter, from the ledger (holds are left out: not money spent)."""
    start, end = _month_bounds(year, month)
    txns = (
        LedgerTransaction.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(entries__account__user=user, entries__account__kind__in=RENTER_KINDS)
        .exclude(kind__in=[TX.HOLD, TX.HOLD_RELEASE, TX.CARD_AUTHORIZATION])
        .distinct()
        .order_by("created_at", "id")
        .prefetch_related("entries__account")
    )
    lines = []
    for txn in txns:
        entries = list(txn.entries.all())
        if txn.kind == TX.CHARGE:
            # The renter's cost is what the owner and the platform received.
            cost = -sum(e.amount for e in entries if e.account.kind in (K.OWNER_PAYABLE, K.PLATFORM_FEES))
            amount, desc = -cost, f"Booking #{txn.booking_id}: {txn.memo.split(': ', 1)[-1]}"
        else:
            amount = -sum(
                e.amount for e in entries if e.account.user_id == user.pk and e.account.kind == K.RENTER_BALANCE
            )
            desc = txn.get_kind_display() + (f": {txn.memo}" if txn.memo else "")
        if amount:
            lines.append(StatementLine(txn.created_at, txn.kind, desc, txn.booking_id, amount, txn.currency))
    return lines


@dataclass(frozen=True)
class RevenueRow:
    day: date
    offering_id: int | None
    currency: str
    gross: int
    fees: int
    credits: int
    net: int


def owner_revenue(owner: Any, *, days: int = 31) -> list[RevenueRow]:
    """Per offering and day: what renters paid, the platform fee, credits given, and the owner's net, from the ledger."""
    since = clock.now() - timedelta(days=days)
    mine = LedgerEntry.objects.filter(
        account__user=owner,
        account__kind=K.OWNER_PAYABLE,
        transaction__kind__in=[TX.CHARGE, TX.SHORT_NOTICE_CREDIT],
        transaction__created_at__gte=since,
    ).values("transaction_id")
    entries = (
        LedgerEntry.objects.filter(transaction_id__in=mine)
        .filter(Q(account__user=owner, account__kind=K.OWNER_PAYABLE) | Q(account__kind=K.PLATFORM_FEES))
        .select_related("transaction", "account")
    )
    rows: dict[tuple[date, int | None, str], dict[str, int]] = defaultdict(
        lambda: {"owner": 0, "fees": 0, "credits": 0}
    )
    for e in entries:
        key = (e.transaction.created_at.date(), e.transaction.offering_id, e.currency)
        if e.transaction.kind == TX.SHORT_NOTICE_CREDIT:
            rows[key]["credits"] += e.amount if e.account.kind == K.OWNER_PAYABLE else 0
        elif e.account.kind == K.OWNER_PAYABLE:
            rows[key]["owner"] += -e.amount
        else:
            rows[key]["fees"] += -e.amount
    result = []
    for (day, offering_id, currency), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0), reverse=True):
        result.append(
            RevenueRow(
                day, offering_id, currency, v["owner"] + v["fees"], v["fees"], v["credits"], v["owner"] - v["credits"]
            )
        )
    return result


def owner_payable(owner: Any) -> dict[str, int]:
    return {acc.currency: ledger.balance(acc) for acc in LedgerAccount.objects.filter(kind=K.OWNER_PAYABLE, user=owner)}


def offering_terms(offering: Any) -> dict[str, Any]:
    """What a renter is told before buying: release charge per profile, notice promised, short-notice credit."""
    policy = OfferingBillingPolicy.objects.filter(offering=offering).first()
    percent = policy.short_notice_credit_percent if policy else 200
    return {
        "offering_id": offering.pk,
        "preemption_notice_seconds": offering.preemption_notice_seconds,
        "short_notice_credit_percent": percent,
        "platform_fee_percent": fee_basis_points() / 100,
        "release_charge": [
            {
                "profile": p.profile.name,
                "release_charge": p.release_charge,
                "explained": "the whole slice" if p.release_charge == "full" else "only the seconds used",
            }
            for p in offering.pricing_policies.select_related("profile").order_by("profile__vcpus", "profile__name")
        ],
    }
