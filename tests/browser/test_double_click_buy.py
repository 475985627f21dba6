"""Real Chromium: a double click on "Buy" buys once (the form's idempotency key, issue 12 point 4)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_double_click_on_buy_buys_once(page, live_server, monkeypatch):
    real = services.booking_request

    def slow_booking_request(**kwargs: Any) -> Booking:
        time.sleep(0.5)  # a busy server: the second click arrives while the first is in flight
        return real(**kwargs)

    monkeypatch.setattr(services, "booking_request", slow_booking_request)
    owner = factories.owner()
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10}, name="Double")
    renter = factories.renter(email="dora@example.test")
    factories.fund_renter(renter, 10_000)

    log_in(page, renter.email)
    page.goto("/market/slices/?ordering=start")
    page.locator("tr.slice-row").first.locator("button:has-text('Buy')").click()  # the price, asked first
    page.wait_for_selector("article.cost-preview")
    buy = page.locator("article.cost-preview button[type=submit]")
    buy.scroll_into_view_if_needed()  # below the image, user-data and SSH fields: clicks need it on screen
    box = buy.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)  # the impatient second click, while the first is in flight
    # The second submission aborts the first navigation in the browser: expect() polls the URL and the
    # text across navigations, where wait_for_url may fail on the interrupted one under load.
    expect(page).to_have_url(re.compile(r"/bookings/\d+/server/$"))  # the booking's page
    # The browser shows the second submission's answer: the first one's, with a note.
    expect(page.locator("main")).to_contain_text("This form had already been sent, so it was not sent again.")
    expect(page.locator("main")).to_contain_text("Double")
    page.wait_for_load_state("networkidle")
    assert Booking.objects.filter(renter=renter).count() == 1
