"""Real Chromium on the capacity calendar (issue 15 item 3): a renter picks a free spot and lands on
the slice search with the offering and the chosen start filled in, ready to buy; no console errors."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.lib import clock
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_renter_picks_a_free_spot_and_lands_on_the_search_with_that_start(page):
    owner = factories.owner(email="cal-owner@example.test")
    offer = factories.offering(owner, publish=True, name="Calendar Cloud")
    renter = factories.renter(email="cal-renter@example.test")
    renter.timezone = "Europe/Paris"
    renter.save(update_fields=["timezone"])
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, renter.email)

    page.goto(f"/offerings/{offer.pk}/")
    page.click("[data-testid=calendar-link]")
    assert "Times in Europe/Paris" in page.inner_text("[data-testid=calendar-zones]")
    tomorrow = (clock.now().astimezone(ZoneInfo("Europe/Paris")) + timedelta(days=1)).date()
    page.goto(f"/offerings/{offer.pk}/calendar?date={tomorrow:%Y-%m-%d}&span=day")
    spots = page.locator("[data-testid=free-spot]")
    assert spots.count() == 24  # open at all hours, nothing booked: a free spot an hour
    third = spots.nth(2)
    assert third.get_attribute("aria-label") == "Small: free 02:00–03:00; pick a start at 02:00"
    start = third.get_attribute("data-start")
    third.click()

    page.wait_for_url("**/market/slices/**")
    assert page.input_value("input[name=start]") == f"{tomorrow:%Y-%m-%d}T02:00"  # Chromium drops ":00" seconds
    assert start is not None and start.startswith(f"{tomorrow:%Y-%m-%d}T02:00:00")
    first = page.locator("tr.slice-row").first
    assert "Calendar Cloud" in first.inner_text() and f"{tomorrow:%Y-%m-%d} 02:00:00" in first.inner_text()
    first.get_by_role("button", name="Buy…").click()  # and that slice can be bought from there
    page.wait_for_url("**/market/slices/*/request**")
    assert page.locator("h1").inner_text() == "Buy this slice?"
    assert errors == []
