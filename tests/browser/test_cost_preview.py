"""Real Chromium: a renter sees what a release will charge before it acts, and buys after a quote expired."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.models import BookingCharge
from marketplace.lib import clock
from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def next_minute(hours: int = 16):  # type: ignore[no-untyped-def]
    at = clock.now() + timedelta(hours=hours)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1)


def test_release_shows_the_amount_first_and_charges_it_on_confirmation(page):  # type: ignore[no-untyped-def]
    owner = factories.owner()
    renter = factories.renter(email="rita@example.test")
    offer = factories.offering(
        owner,
        publish=True,
        pricing={"model": "fixed", "price_per_unit": 8, "currency": "EUR", "release_charge": "full"},
    )
    factories.fund_renter(renter, 5000, "EUR")
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, next_minute(), 3600))
    assert booking.state == "confirmed"

    log_in(page, renter.email)
    page.goto("/market/bookings/")
    page.click(f"a[href='/market/bookings/{booking.pk}/release']")
    # The amount comes first, and nothing has happened yet.
    page.wait_for_selector("h1:has-text('Release booking')")
    assert f"Releasing booking {booking.pk} now charges 4.80 EUR of the 4.80 EUR held for it." in page.inner_text(
        "main"
    )
    assert Booking.objects.get(pk=booking.pk).state == "confirmed"

    page.click("button:has-text('Release and pay 4.80 EUR')")
    page.wait_for_selector("text=4.80 EUR charged, 0.00 EUR returned to you.")
    assert Booking.objects.get(pk=booking.pk).state == "released"
    assert BookingCharge.objects.get(booking_id=booking.pk).charged_amount == 480


def test_an_expired_quote_is_bought_at_the_fresh_price_in_one_click(page, settings):  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_QUOTE_TTL = timedelta(seconds=3)
    owner = factories.owner()
    renter = factories.renter(email="rita@example.test")
    offer = factories.dynamic_offering(owner, base=100)
    factories.fund_renter(renter, 5000)
    start = next_minute(2)

    log_in(page, renter.email)
    query = f"?start={start:%Y-%m-%dT%H:%M}&end={start + timedelta(minutes=10):%Y-%m-%dT%H:%M}&duration=600"
    page.goto("/market/slices/" + query)
    page.click("button:has-text('Get quote')")
    page.wait_for_selector("h1:has-text('Your quote')")
    assert "Valid until" in page.inner_text(".quote-validity")
    # The countdown (static/js/countdown.js) runs out on the page.
    page.wait_for_selector("[data-countdown].expired", timeout=10_000)
    assert "expired" in page.inner_text("[data-countdown]")
    settings.MARKETPLACE_QUOTE_TTL = timedelta(seconds=120)  # the fresh quote lasts long enough to click

    page.click("button:has-text('Buy at this price')")
    page.wait_for_selector("h1:has-text('A fresh quote')")
    assert "The quote expired at" in page.inner_text("[role=alert]")
    assert not Booking.objects.exists()
    page.click("button:has-text('Buy at this price: 10.00 USD')")
    page.wait_for_url("**/bookings/*/server/")  # the booking's page
    booking = Booking.objects.get()
    assert (booking.state, booking.total_price, booking.offering_id) == ("confirmed", 1000, offer.pk)
    assert "Confirmed" in page.inner_text("main")
