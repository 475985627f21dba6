from __future__ import annotations

from typing import Any

from accounts.models import User
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.webhooks.conftest import T10
from webhooks import services
from webhooks.models import Endpoint

ALL = ["booking.confirmed", "booking.provisioning", "booking.running", "booking.notice", "booking.ended"]


def endpoint(user: User, url: str, types: list[str] | None = None) -> tuple[Endpoint, str]:
    return services.endpoint_create(actor=user, url=url, event_types=types or ALL)


def buy(renter: User, offering: Any, *, start: Any = T10, seconds: int = 600) -> Booking:
    """A fixed-price booking, confirmed (the renter is funded first: billing's funds check)."""
    if not getattr(renter, "_funded", False):
        factories.fund_renter(renter, 1_000_000)
        renter._funded = True  # type: ignore[attr-defined]
    return engine.booking_request(actor=renter, slice_id=factories.slice_id(offering, start, seconds))
