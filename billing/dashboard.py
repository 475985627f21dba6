"""Billing's panels of the landing dashboard (marketplace.dashboard): a renter's spend this month
against their limit, an owner's revenue today."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.requests import actor
from billing import selectors
from billing.services import renter_month_spend
from marketplace import dashboard
from marketplace.lib import clock
from renters.selectors import renter_settings_of


def renter_spend(request: HttpRequest) -> dict[str, Any]:
    """What counts against the spend limit this month (the funds check's own figure), in the limit's
    currency; without a limit, in the currency the renter buys in."""
    user = actor(request)
    settings = renter_settings_of(user)
    limit = settings.spend_limit if settings is not None else None
    currency = (
        settings.currency if settings is not None and limit is not None else selectors.renter_default_currency(user)
    )
    spent = renter_month_spend(user, currency)
    balance = selectors.renter_balance(user, currency)
    return {"spent": spent, "limit": limit, "currency": currency, "balance": balance}


def owner_revenue_today(request: HttpRequest) -> dict[str, Any]:
    """Today's (the viewer's day) gross, fees and net per currency, from billing.selectors.owner_revenue."""
    since, until = clock.today_bounds()
    totals: dict[str, dict[str, int]] = {}
    for row in selectors.owner_revenue(actor(request), since=since, until=until):
        t = totals.setdefault(row.currency, {"gross": 0, "fees": 0, "credits": 0, "net": 0})
        t["gross"] += row.gross
        t["fees"] += row.fees
        t["credits"] += row.credits
        t["net"] += row.net
    return {"totals": [{"currency": cur, **t} for cur, t in sorted(totals.items())], "since": since}


def register() -> None:
    dashboard.register_panel(
        "billing.spend", role="renter", order=20, template="dashboard/renter_spend.html", build=renter_spend
    )
    dashboard.register_panel(
        "billing.revenue", role="owner", order=10, template="dashboard/owner_revenue.html", build=owner_revenue_today
    )
