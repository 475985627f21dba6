"""Real Chromium, the newcomer's money path of issue 12 in one walk: top up in EUR and see the balance
(page, API and ledger agree), buy with the price shown first, release with the amount shown first,
and a double click on a buy that buys once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from billing import ledger
from billing.models import BookingCharge
from scheduling.models import Booking
from tests import factories
from tests.billing.conftest import add_card
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _buy_first_slice(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/market/slices/?ordering=start")
    page.locator("tr.slice-row").first.locator("button:has-text('Buy')").click()
    page.wait_for_selector("h1:has-text('Buy this slice?')")


def test_newcomer_tops_up_in_eur_buys_releases_and_double_clicks_once(page, stripe_server):  # type: ignore[no-untyped-def]
    owner = factories.owner()
    factories.offering(
        owner,
        publish=True,
        name="Frankfurt",
        pricing={"model": "fixed", "currency": "EUR", "price_per_unit": 8, "release_charge": "full"},
    )
    renter = factories.renter(email="nina@example.test")
    add_card(renter)

    # Top up in EUR: the form offers the market's currency, and the balance reads the same everywhere.
    log_in(page, renter.email)
    page.goto("/billing/")
    assert page.locator("select[name=currency]").input_value() == "EUR"
    page.fill("input[name=amount]", "10")
    page.click("[data-testid=topup-form] button[type=submit]")
    page.wait_for_selector("text=10.00 EUR added to your balance.")
    assert page.locator("[data-testid=available]").inner_text() == "10.00 EUR"
    api = page.request.get("/api/v1/billing/balance").json()
    assert (api["currency"], api["available"], api["held"]) == ("EUR", 1000, 0)  # minor units, as the ledger
    assert ledger.balance_of(ledger.Kind.RENTER_BALANCE, "EUR", renter) == 1000

    # Buy: the price comes first, nothing is bought until the renter confirms.
    _buy_first_slice(page)
    assert "This slice costs 0.08 EUR." in page.inner_text("main")
    assert not Booking.objects.filter(renter=renter).exists()
    page.click("button:has-text('Buy for 0.08 EUR')")
    page.wait_for_url("**/bookings/*/server/")  # the booking's page
    booking = Booking.objects.get(renter=renter)
    assert booking.state == "confirmed" and "Frankfurt" in page.inner_text("main")
    page.goto("/billing/")
    assert page.locator("[data-testid=available]").inner_text() == "9.92 EUR"
    assert page.locator("[data-testid=held]").inner_text() == "0.08 EUR"

    # Release: the amount comes first (policy "whole slice"), then it is charged as shown.
    page.goto("/market/bookings/")
    page.click(f"a[href='/market/bookings/{booking.pk}/release']")
    page.wait_for_selector("h1:has-text('Release booking')")
    assert f"Releasing booking {booking.pk} now charges 0.08 EUR of the 0.08 EUR held for it." in page.inner_text(
        "main"
    )
    assert Booking.objects.get(pk=booking.pk).state == "confirmed"
    page.click("button:has-text('Release and pay 0.08 EUR')")
    page.wait_for_selector("text=0.08 EUR charged, 0.00 EUR returned to you.")
    assert Booking.objects.get(pk=booking.pk).state == "released"
    assert BookingCharge.objects.get(booking_id=booking.pk).charged_amount == 8

    # A double click on a buy buys once.
    _buy_first_slice(page)
    page.locator("article.cost-preview button[type=submit]").dblclick()
    expect(page).to_have_url(re.compile(r"/bookings/\d+/server/$"))  # polls across the aborted first navigation
    page.wait_for_load_state("networkidle")
    assert Booking.objects.filter(renter=renter).count() == 2  # the released one and one more, not two more
    page.goto("/billing/")
    assert page.locator("[data-testid=available]").inner_text() == "9.84 EUR"
