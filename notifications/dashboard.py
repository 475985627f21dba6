"""The unread notifications panel of the landing dashboard (marketplace.dashboard), for every role."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.requests import actor
from marketplace import dashboard
from notifications import selectors

SHOWN = 5


def unread(request: HttpRequest) -> dict[str, Any]:
    user = actor(request)
    return {
        "unread": list(selectors.notifications_for(user).filter(read_at__isnull=True)[:SHOWN]),
        "count": selectors.unread_count(user),
    }


def register() -> None:
    dashboard.register_panel(
        "notifications.unread", role="everyone", order=10, template="dashboard/unread_notifications.html", build=unread
    )
