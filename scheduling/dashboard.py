"""The market's panels of the landing dashboard (marketplace.dashboard): a renter's bookings, an
owner's bookings about to start on their offerings (utilisation: provisioning.dashboard)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest

from accounts.requests import actor
from marketplace import dashboard
from marketplace.lib import clock
from scheduling import selectors

SHOWN = 10  # rows per panel; each links to the full list
SOON = timedelta(hours=24)


def renter_bookings(request: HttpRequest) -> dict[str, Any]:
    now = clock.now()
    live = list(selectors.bookings_live_for_renter(actor(request), now)[: SHOWN + 1])
    running = [b for b in live[:SHOWN] if b.starts_at <= now]
    upcoming = [b for b in live[:SHOWN] if b.starts_at > now]
    return {"running": running, "upcoming": upcoming, "more": len(live) > SHOWN}


def owner_starting_soon(request: HttpRequest) -> dict[str, Any]:
    soon = selectors.bookings_starting_soon_for_owner(actor(request), clock.now(), SOON)
    rows = list(soon[: SHOWN + 1])
    return {"bookings": rows[:SHOWN], "more": len(rows) > SHOWN, "hours": int(SOON.total_seconds() // 3600)}


def register() -> None:
    dashboard.register_panel(
        "scheduling.bookings", role="renter", order=10, template="dashboard/renter_bookings.html", build=renter_bookings
    )
    dashboard.register_panel(
        "scheduling.starting_soon",
        role="owner",
        order=30,
        template="dashboard/owner_starting_soon.html",
        build=owner_starting_soon,
    )
