"""Real Chromium: an owner's price change and window removal stop at a page saying what will happen."""

from __future__ import annotations

from datetime import time

import pytest

from owners.models import AvailabilityWindow, PricingPolicy
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_confirms_a_price_change_and_a_window_removal(page, live_server):
    owner = factories.owner(email="otto@example.test")
    offer = factories.offering(owner, name="Berlin", grid_seconds=60)
    policy = factories.price(owner, offer, currency="EUR", price_per_unit=3)
    win = factories.window(owner, offer, time(8), time(18), weekdays=[0])
    log_in(page, owner.email)

    page.goto(f"/owner/offerings/{offer.pk}/")
    assert "1.80 EUR per hour" in page.inner_text("main")
    page.click("td a:text-is('edit')")
    page.fill("input[name=price_per_unit]", "0.05")
    page.click("main button:has-text('Save')")
    text = page.inner_text("main")
    assert "Now: Fixed price 0.03 EUR per 1 min (1.80 EUR per hour)" in text
    assert "New: Fixed price 0.05 EUR per 1 min (3.00 EUR per hour)" in text
    assert PricingPolicy.objects.get(pk=policy.pk).price_per_unit == 3
    page.click("button:has-text('Change the price')")
    page.wait_for_url(f"**/owner/offerings/{offer.pk}/")
    assert PricingPolicy.objects.get(pk=policy.pk).price_per_unit == 5

    page.click("#windows button:has-text('remove')")
    assert "Remove the window Mon 08:00-18:00 (UTC) from Berlin?" in page.inner_text("main")
    assert AvailabilityWindow.objects.filter(pk=win.pk).exists()
    page.click("button:has-text('Remove the window')")
    page.wait_for_url(f"**/owner/offerings/{offer.pk}/")
    assert not AvailabilityWindow.objects.filter(pk=win.pk).exists()
