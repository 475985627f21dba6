"""The market pages: a renter searches, buys, bids, sees states and notices; an owner sees and preempts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.conftest import login
from tests.form_markup import error_beside, summary

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
QUERY = "?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=600&ordering=start"


def test_renter_searches_buys_and_sees_the_booking(owner, renter):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    c = login(renter)
    page = c.get("/market/slices/" + QUERY)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="slice-row"') == 3 and offer.name in html and "2.50 USD" in html
    sid = factories.slice_id(offer, T10, 600)
    r = c.post(f"/market/slices/{sid}/request", {"next": "/market/slices/" + QUERY})
    b = Booking.objects.get()
    assert r.status_code == 302 and r.url == f"/bookings/{b.pk}/server/"  # the booking's page
    mine = c.get("/market/bookings/").content.decode()
    assert "Confirmed" in mine and offer.name in mine
    assert c.post(f"/market/bookings/{b.pk}/release").status_code == 302
    assert Booking.objects.get().state == "released"


def test_refusal_is_shown_and_changes_nothing(owner, renter):
    offer = factories.offering(owner, publish=True)
    c = login(renter)
    r = c.post(f"/market/slices/{factories.slice_id(offer, T10, 600)}/request", {"duration": "90"}, follow=True)
    assert "multiple of the offering" in r.content.decode()
    assert not Booking.objects.exists()


def test_bids_and_quotes_in_the_portal(owner, renter):
    auction = factories.auction_offering(owner, reserve=10, closes=600)
    dyn = factories.dynamic_offering(owner, base=100)
    c = login(renter)
    c.post(f"/market/slices/{factories.slice_id(auction, T10, 600)}/request", {"bid": "0.40"})
    bids = c.get("/market/bookings/").content.decode()
    assert "bidding" in bids and "0.40 USD" in bids
    quote_page = c.post(f"/market/slices/{factories.slice_id(dyn, T10, 600)}/quote")
    assert quote_page.status_code == 200 and "10.00 USD" in quote_page.content.decode()
    quote_id = quote_page.context["quote"].pk
    c.post(f"/market/slices/{factories.slice_id(dyn, T10, 600)}/request", {"quote": str(quote_id)})
    assert Booking.objects.get(pricing_model="dynamic").total_price == 1000


def test_owner_sees_bookings_and_preempts_with_notice(owner, other_owner, renter, notified):
    offer = factories.offering(owner, publish=True)
    b = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    page = login(owner).get("/owner/market/").content.decode()
    assert str(renter) in page and "Preempt" in page
    assert str(renter) not in login(other_owner).get("/owner/market/").content.decode()
    assert (
        login(other_owner).post(f"/owner/market/bookings/{b.pk}/preempt", {"notice_seconds": "30"}).status_code == 404
    )
    # Issue 12: the market page's button shows a confirmation page; only its confirmed POST acts.
    login(owner).post(f"/owner/market/bookings/{b.pk}/preempt", {"notice_seconds": "30", "confirm": "yes"})
    assert Booking.objects.get(pk=b.pk).state == "notice"
    deadline = Booking.objects.get(pk=b.pk).preempt_deadline
    assert f"Preemption notice: booking {b.pk} ends at {deadline:%Y-%m-%d %H:%M:%S} UTC" in (
        login(renter).get("/account/notifications/").content.decode()
    )


def test_renter_cannot_open_the_owner_market(renter):
    assert login(renter).get("/owner/market/").status_code == 403


def test_admin_can_preempt_from_the_admin(staff, owner, renter):
    offer = factories.offering(owner, publish=True)
    b = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    c = login(staff)
    assert c.get("/admin/scheduling/booking/").status_code == 200
    r = c.post("/admin/scheduling/booking/", {"action": "preempt_with_default_notice", "_selected_action": [b.pk]})
    assert r.status_code == 302
    b.refresh_from_db()
    assert b.state == "notice" and b.reason == "Preempted by an admin."


def test_search_shows_each_refusal_beside_its_field(owner, renter):
    factories.offering(owner, publish=True)
    c = login(renter)
    page = c.get("/market/slices/", {"cpu": "-1", "duration": "soon", "max_price": "1.001", "currency": "USD"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "greater than or equal to 1" in error_beside(html, "id_cpu")
    assert "'soon' is not a length" in error_beside(html, "id_duration")
    assert "decimal places" in error_beside(html, "id_max_price")
    # The summary counts them and repeats none; no results are listed for a refused search.
    assert summary(html) == "Please correct the 3 fields marked below."
    assert html.count("greater than or equal to 1") == 1
    assert 'class="slice-row"' not in html
    # A field that is fine is not marked.
    assert 'id="id_ram_error"' not in html and 'aria-invalid="true" aria-describedby="id_ram' not in html


def test_search_names_a_hidden_fields_refusal_at_the_top(owner, renter):
    c = login(renter)
    html = c.get("/market/slices/", {"offering": "abc"}).content.decode()
    assert summary(html) == "Offering: Enter a whole number."
