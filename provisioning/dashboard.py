"""Provisioning's panel of the landing dashboard (marketplace.dashboard): each of an owner's offerings'
utilisation today so far, booked and held by standby servers, by the one definition the utilisation
chart uses (selectors.offering_utilisation)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.requests import actor
from marketplace import dashboard
from marketplace.lib import clock
from owners import selectors as owner_selectors
from provisioning import selectors


def _percent(share: float) -> float:
    return round(share * 100, 1)


def owner_utilisation(request: HttpRequest) -> dict[str, Any]:
    start, end = clock.today_bounds()
    rows = []
    for offering in owner_selectors.offerings_for_owner(actor(request)).order_by("name"):
        shares = selectors.offering_utilisation(offering, [(start, end)])
        today = shares[0] if shares else None
        rows.append(
            {
                "offering": offering,
                "booked": None if today is None else _percent(today["booked"]),
                "standby": None if today is None else _percent(today["standby"]),
            }
        )
    return {"rows": rows, "since": start}


def register() -> None:
    dashboard.register_panel(
        "provisioning.utilisation",
        role="owner",
        order=20,
        template="dashboard/owner_utilisation.html",
        build=owner_utilisation,
    )
