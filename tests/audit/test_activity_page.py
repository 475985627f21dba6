"""The activity page: owners and renters browse the audit trail of their own things (bookings,
offerings, clouds, tokens, their account), never another user's; staff see all of it. Paginated,
filtered by kind and date; no input gives a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import api_token_create
from audit import context
from audit.models import DomainEvent
from audit.services import Event, record_events
from scheduling import services as scheduling_services
from tests import factories
from tests.conftest import login
from tests.market_fixtures import NOW, _engine_only, _frozen_calendar

__all__ = ["_engine_only", "_frozen_calendar"]  # the engine's frozen calendar, for a real booking

pytestmark = pytest.mark.django_db

URL = reverse("accounts:activity")
SLICE_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday after NOW


@pytest.fixture
def estate(owner, renter):  # type: ignore[no-untyped-def]
    """An owner's cloud and offering, booked by the renter from the renter's address."""
    offer = factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25}, name="Owned offer"
    )
    token = context.bind(context.RequestContext(request_id="req-renter", ip="198.51.100.50", source="web"))
    try:
        booking = scheduling_services.booking_request(actor=renter, slice_id=factories.slice_id(offer, SLICE_AT, 60))
        _, _raw = api_token_create(actor=renter, name="renter-laptop")
    finally:
        context.reset(token)
    return {"offering": offer, "booking": booking}


def _page(client: Client, query: dict[str, str] | None = None) -> str:
    response = client.get(URL, query or {})
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get(URL)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_the_account_menu_links_to_the_page(renter):
    assert f'href="{URL}"' in _page(login(renter))


def test_a_renter_sees_their_bookings_and_tokens_with_their_address(renter, estate):
    page = _page(login(renter))
    assert f"booking {estate['booking'].pk} (confirmed)" in page
    assert "booking.confirmed" in page and "api_token.created" in page and "renter-laptop" in page
    assert "198.51.100.50" in page  # their own acts show where they came from
    assert "Owned offer" not in page  # not the owner's offering events
    assert "offering.created" not in page and "cloud.created" not in page


def test_another_renter_sees_none_of_it(estate):
    page = _page(login(factories.renter()))
    assert f"booking {estate['booking'].pk}" not in page
    assert "booking.confirmed" not in page and "api_token.created" not in page and "198.51.100.50" not in page
    assert "No events" in page


def test_an_owner_sees_their_offerings_and_the_bookings_on_them_but_not_the_renter(owner, renter, estate):
    page = _page(login(owner))
    assert "offering.created" in page and "cloud.created" in page and "permission.granted" in page
    assert f"booking {estate['booking'].pk} (confirmed)" in page  # a booking on their offering
    assert "another user" in page
    # The renter's email, address and tokens stay private.
    assert renter.email not in page and "198.51.100.50" not in page and "renter-laptop" not in page


def test_another_owner_sees_nothing_of_the_estate(estate):
    page = _page(login(factories.owner()))
    assert "offering.created" not in page and f"booking {estate['booking'].pk}" not in page


def test_staff_see_everything_with_who_and_where(staff, owner, renter, estate):
    page = _page(login(staff))
    assert "Every event in the audit trail" in page
    for text in (
        "offering.created",
        "booking.confirmed",
        "api_token.created",
        renter.email,
        owner.email,
        "198.51.100.50",
    ):
        assert text in page


def test_staff_without_the_audit_permission_see_only_their_own(estate):
    clerk = factories.UserFactory(is_staff=True)
    page = _page(login(clerk))
    assert "Every event" not in page and "booking.confirmed" not in page


def test_filters_by_kind_and_date(renter, estate):
    client = login(renter)
    bookings = _page(client, {"kind": "booking"})
    assert "booking.confirmed" in bookings and "api_token.created" not in bookings
    today = NOW.date().isoformat()
    assert "booking.confirmed" in _page(client, {"since": today, "until": today})
    later = (NOW.date() + timedelta(days=1)).isoformat()
    assert "booking.confirmed" not in _page(client, {"since": later})
    earlier = (NOW.date() - timedelta(days=1)).isoformat()
    assert "booking.confirmed" not in _page(client, {"until": earlier})


@pytest.mark.parametrize(
    "query",
    [
        {"kind": "no-such-kind"},
        {"since": "9999-12-31", "until": "9999-12-31"},
        {"since": "0001-01-01"},
        {"since": "not-a-date"},
        {"since": "2026-12-02", "until": "2026-11-01"},
        {"page": "99999999999999999999999"},
        {"page": "abc"},
    ],
)
def test_odd_filters_give_a_page_never_a_500(renter, estate, query):
    client = login(renter)
    client.raise_request_exception = False
    response = client.get(URL, query)
    assert response.status_code == 200


def test_a_nul_in_a_filter_is_refused_before_the_page(renter, estate):
    # The input guard (marketplace.middleware.InputGuardMiddleware) answers a NUL anywhere with a 400.
    client = login(renter)
    client.raise_request_exception = False
    response = client.get(URL, {"kind": "booking\x00"})
    assert response.status_code == 400


def test_a_refused_filter_says_why_and_lists_nothing(renter, estate):
    page = _page(login(renter), {"since": "2026-12-02", "until": "2026-11-01"})
    assert "The end date is before the start date." in page and "booking.confirmed" not in page


def test_the_trail_is_paginated(renter, settings):
    settings.AUDIT_ACTIVITY_PAGE_SIZE = 5
    record_events([Event(f"ssh_key.note_{n}", renter) for n in range(7)], actor=renter)
    client = login(renter)
    first = _page(client)
    assert "Page 1 of 2" in first and first.count('class="activity-row') == 5
    second = _page(client, {"page": "2"})
    assert second.count('class="activity-row') == 2
    assert DomainEvent.objects.filter(actor=renter).count() == 7
