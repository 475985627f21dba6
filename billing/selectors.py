"""Billing reads, restricted to what the user may see, and statements built from the ledger."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

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
from marketplace.lib.money import Money, format_minor, prorate
from owners.models import Offering, PricingPolicy

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


@dataclass(frozen=True)
class CurrencyBalance:
    """A renter's money in one currency, from the ledger: ``available`` to spend, ``held`` for bookings."""

    currency: str
    available: int
    held: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "available": self.available,
            "held": self.held,
            "available_display": format_minor(self.available, self.currency),
            "held_display": format_minor(self.held, self.currency),
        }


def _renter_sums(
    user: Any, currency: str | None = None, kinds: tuple[str, ...] = (K.RENTER_BALANCE, K.RENTER_HOLDS)
) -> dict[str, dict[str, int]]:
    """{currency: {kind: balance}} of the renter's balance and holds accounts, one query."""
    accounts = LedgerAccount.objects.filter(user=user, kind__in=kinds)
    if currency is not None:
        accounts = accounts.filter(currency=currency)
    out: dict[str, dict[str, int]] = {}
    rows = accounts.annotate(s=Coalesce(Sum("entries__amount"), 0)).values_list("currency", "kind", "s")
    for cur, kind, total in rows:
        out.setdefault(cur, {})[kind] = -int(total)  # both kinds are credit-normal
    return out


def renter_balance(user: Any, currency: str) -> CurrencyBalance:
    """The renter's balance in one currency: the figure the funds check spends and every page shows."""
    sums = _renter_sums(user, currency).get(currency, {})
    return CurrencyBalance(currency, sums.get(K.RENTER_BALANCE, 0), sums.get(K.RENTER_HOLDS, 0))


def renter_available(user: Any, currency: str) -> int:
    """``renter_balance(user, currency).available`` without summing the holds (the funds check's hot path)."""
    return _renter_sums(user, currency, (K.RENTER_BALANCE,)).get(currency, {}).get(K.RENTER_BALANCE, 0)


def renter_balances(user: Any, default_currency: str | None = None) -> list[CurrencyBalance]:
    """Every currency the renter has money in (available or held), the default currency first even if empty."""
    sums = _renter_sums(user)
    found = {cur: CurrencyBalance(cur, v.get(K.RENTER_BALANCE, 0), v.get(K.RENTER_HOLDS, 0)) for cur, v in sums.items()}
    rows = [b for b in found.values() if b.available or b.held]
    if default_currency is not None and not any(b.currency == default_currency for b in rows):
        rows.append(found.get(default_currency) or CurrencyBalance(default_currency, 0, 0))
    return sorted(rows, key=lambda b: (b.currency != default_currency, b.currency))


def renter_summary(user: Any, currency: str) -> dict[str, int]:
    balance = renter_balance(user, currency)
    return {"available": balance.available, "held": balance.held}


def market_currencies() -> list[str]:
    """Currencies of published offerings' prices, the most common first (ties by code)."""
    rows = (
        PricingPolicy.objects.filter(offering__status=Offering.Status.PUBLISHED)
        .values("currency")
        .annotate(n=Count("id"))
        .values_list("currency", "n")
    )
    return [cur for cur, _ in sorted(rows, key=lambda r: (-r[1], r[0]))]


def renter_default_currency(user: Any) -> str:
    """The currency a renter's money is shown and topped up in, following what they buy: their latest
    booking's, else the currency they hold most of, else the market's most common, else BILLING_CURRENCY."""
    latest = BookingCharge.objects.filter(renter=user).order_by("-created_at", "-pk").values_list("currency", flat=True)
    last = latest.first()
    if last:
        return str(last)
    held = [b for b in renter_balances(user) if b.available + b.held > 0]
    if held:
        return max(held, key=lambda b: (b.available + b.held, b.currency)).currency
    market = market_currencies()
    return market[0] if market else settings.BILLING_CURRENCY


def topup_currencies(user: Any) -> list[str]:
    """The currencies a renter may top up in: the market's and those they already hold, default first."""
    default = renter_default_currency(user)
    others = {*market_currencies(), *(b.currency for b in renter_balances(user))} - {default}
    return [default, *sorted(others)]


@dataclass(frozen=True)
class StatementBalance:
    """A currency's figures at the end of a statement's month."""

    currency: str
    net: int  # the month's money movements (the statement lines' sum)
    available: int  # balance at month end
    held: int  # held for bookings at month end


def renter_statement_balances(
    user: Any, year: int, month: int, lines: list[StatementLine], tz: tzinfo = UTC
) -> list[StatementBalance]:
    """Per currency: the month's net and the available and held balances at its end (in ``tz``), from the ledger."""
    _, end = _month_bounds(year, month, tz)
    rows = (
        LedgerEntry.objects.filter(
            account__user=user,
            account__kind__in=[K.RENTER_BALANCE, K.RENTER_HOLDS],
            transaction__created_at__lt=end,
        )
        .values("account__currency", "account__kind")
        .annotate(s=Sum("amount"))
        .values_list("account__currency", "account__kind", "s")
    )
    at_end: dict[str, dict[str, int]] = {}
    for cur, kind, total in rows:
        at_end.setdefault(cur, {})[kind] = -int(total or 0)
    net: dict[str, int] = {}
    for line in lines:
        net[line.currency] = net.get(line.currency, 0) + line.amount
    out = []
    for cur in sorted(set(at_end) | set(net)):
        available, held = at_end.get(cur, {}).get(K.RENTER_BALANCE, 0), at_end.get(cur, {}).get(K.RENTER_HOLDS, 0)
        if available or held or net.get(cur):
            out.append(StatementBalance(cur, net.get(cur, 0), available, held))
    return out


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


def month_spend_charges(
    user: Any, currency: str, at: datetime | None = None
) -> tuple[datetime, QuerySet[BookingCharge], QuerySet[BookingCharge]]:
    """What counts against the renter's monthly spend limit in ``currency``: the month's start (UTC),
    the charges settled since (their ``charged_amount``) and the open holds (their ``price``)."""
    start = (at or clock.now()).astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    charges = BookingCharge.objects.filter(renter=user, currency=currency)
    settled = charges.filter(state=BookingCharge.State.SETTLED, updated_at__gte=start)
    open_holds = charges.filter(
        state__in=[BookingCharge.State.HELD, BookingCharge.State.AUTHORIZING, BookingCharge.State.SETTLING]
    )
    return start, settled, open_holds


def renter_daily_spend(user: Any, currency: str, tz: tzinfo, at: datetime | None = None) -> dict[str, Any]:
    """This month's spending in ``currency`` per day of ``tz``, from the month's start to ``at`` (now):
    ``days`` of (day, spent, cumulative) in minor units, whose last cumulative is the figure the spend
    limit is checked against. A charge counts on the day it settled, an open hold on the day it was
    placed (the month's first day for a hold placed before it)."""
    now = at or clock.now()
    start, settled, open_holds = month_spend_charges(user, currency, now)
    spent: dict[date, int] = defaultdict(int)
    for when, amount in [
        *settled.values_list("updated_at", "charged_amount"),
        *open_holds.values_list("created_at", "price"),
    ]:
        spent[max(when, start).astimezone(tz).date()] += int(amount or 0)
    days, total = [], 0
    for day in _day_labels(start.astimezone(tz).date(), now.astimezone(tz).date()):
        total += spent.get(day, 0)
        days.append((day, spent.get(day, 0), total))
    return {"month_start": start, "currency": currency, "days": days, "total": total}


def renter_spend_chart(spend: dict[str, Any], limit: int | None) -> dict[str, Any]:
    """The billing page's chart (static/js/charts.js) of ``renter_daily_spend``: bars per day, the
    cumulative line, and a dashed line at the monthly ``limit`` (when there is one), in major units."""
    currency = spend["currency"]

    def major(v: int) -> float:
        return float(Money(v, currency).major())

    datasets: list[dict[str, Any]] = [
        {"label": "Spent that day", "data": [major(d[1]) for d in spend["days"]]},
        {"label": "Spent this month", "type": "line", "data": [major(d[2]) for d in spend["days"]]},
    ]
    if limit is not None:
        datasets.append(
            {"label": "Monthly limit", "type": "line", "dashed": True, "data": [major(limit)] * len(spend["days"])}
        )
    return {
        "type": "bar",
        "labels": [d[0].isoformat() for d in spend["days"]],
        "datasets": datasets,
        "y_label": currency,
    }


@dataclass(frozen=True)
class StatementLine:
    at: datetime
    kind: str
    description: str
    booking_id: int | None
    amount: int  # signed, from the renter's point of view: + money in, - money spent
    currency: str


def _month_bounds(year: int, month: int, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """[the month's first midnight, the next month's) in ``tz``, as UTC instants."""
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def renter_statement(user: Any, year: int, month: int, tz: tzinfo = UTC) -> list[StatementLine]:
    """The month's money movements of a renter, from the ledger (holds are left out: not money spent):
    the calendar month in ``tz`` (the portal passes the viewer's zone; the API keeps UTC)."""
    start, end = _month_bounds(year, month, tz)
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


def owner_revenue(owner: Any, *, since: datetime, until: datetime, tz: tzinfo = UTC) -> list[RevenueRow]:
    """Per offering and day: what renters paid, the platform fee, credits given, and the owner's net, from the ledger.

    Over [since, until); days are those of ``tz`` (UTC for the API, the viewer's zone for the portal)."""
    charged = LedgerEntry.objects.filter(
        account__user=owner,
        account__kind=K.OWNER_PAYABLE,
        transaction__kind__in=[TX.CHARGE, TX.SHORT_NOTICE_CREDIT],
        transaction__created_at__gte=since,
        transaction__created_at__lt=until,
    )
    mine = charged.values("transaction_id")
    entries = (
        LedgerEntry.objects.filter(transaction_id__in=mine)
        .filter(Q(account__user=owner, account__kind=K.OWNER_PAYABLE) | Q(account__kind=K.PLATFORM_FEES))
        .select_related("transaction", "account")
    )
    rows: dict[tuple[date, int | None, str], dict[str, int]] = defaultdict(
        lambda: {"owner": 0, "fees": 0, "credits": 0}
    )
    for e in entries:
        key = (e.transaction.created_at.astimezone(tz).date(), e.transaction.offering_id, e.currency)
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


REVENUE_AMOUNTS = ("gross", "fees", "credits", "net")


def local_day_bounds(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the days ``first``..``last`` (both included) of the zone ``tz``."""
    return datetime.combine(first, time.min, tzinfo=tz), datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)


def owner_revenue_summary(owner: Any, first: date, last: date, tz: tzinfo = UTC) -> dict[str, Any]:
    """The owner's revenue over the days ``first``..``last`` of ``tz``: ``totals`` per currency, per
    ``offerings`` (id, name, currency) and per ``days`` (one row per day, offering and currency, the
    latest first), each with REVENUE_AMOUNTS in minor units. The owner API's body and the revenue page."""
    since, until = local_day_bounds(first, last, tz)
    names = dict(Offering.objects.filter(owner_id=owner.pk).values_list("pk", "name"))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(REVENUE_AMOUNTS, 0))
    per_offering: dict[tuple[int | None, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(REVENUE_AMOUNTS, 0))
    days: list[dict[str, Any]] = []
    for row in owner_revenue(owner, since=since, until=until, tz=tz):
        amounts = {name: getattr(row, name) for name in REVENUE_AMOUNTS}
        for name, value in amounts.items():
            totals[row.currency][name] += value
            per_offering[(row.offering_id, row.currency)][name] += value
        days.append(
            {
                "day": row.day,
                "offering": row.offering_id,
                "offering_name": names.get(row.offering_id or 0, ""),
                "currency": row.currency,
                **amounts,
            }
        )
    return {
        "from": first,
        "to": last,
        "totals": [{"currency": c, **v} for c, v in sorted(totals.items())],
        "offerings": [
            {"offering": o, "offering_name": names.get(o or 0, ""), "currency": c, **v}
            for (o, c), v in sorted(per_offering.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))
        ],
        "days": days,
    }


def _day_labels(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def owner_revenue_charts(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One stacked bar chart (static/js/charts.js) per currency of ``owner_revenue_summary``: the net
    earned per day (bars) and offering (stacked datasets), in major units."""
    days = _day_labels(summary["from"], summary["to"])
    charts = []
    for total in summary["totals"]:
        currency = total["currency"]
        net: dict[int | None, dict[date, int]] = {
            o["offering"]: {} for o in summary["offerings"] if o["currency"] == currency
        }
        names = {o["offering"]: o["offering_name"] or f"#{o['offering']}" for o in summary["offerings"]}
        for row in summary["days"]:
            if row["currency"] == currency:
                net[row["offering"]][row["day"]] = row["net"]
        charts.append(
            {
                "type": "bar",
                "stacked": True,
                "currency": currency,
                "labels": [d.isoformat() for d in days],
                "datasets": [
                    {"label": names[o], "data": [float(Money(by_day.get(d, 0), currency).major()) for d in days]}
                    for o, by_day in net.items()
                ],
                "y_label": f"net earned ({currency})",
            }
        )
    return charts


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


def statement_period(year: int, month: int, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The instants a month's statement covers, [start, end): the calendar month in ``tz``."""
    return _month_bounds(year, month, tz)
