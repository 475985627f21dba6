"""The offering page's price history in real Chromium: a drawn step chart with data, the table beside
it showing the same prices, times in the viewer's zone (named), no console errors."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.lib import clock
from owners.models import SliceProfile
from scheduling.services.prices import PricePoint, prices_record
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_offering_page_draws_the_price_history_and_lists_the_same_prices(page):
    owner = factories.owner()
    offer = factories.dynamic_offering(owner, base=100, floor=50, cap=300)
    small = SliceProfile.objects.get(owner=None, name="Small")
    now = clock.now()
    changes = [(now - timedelta(hours=20), 100), (now - timedelta(hours=5), 150), (now - timedelta(hours=1), 125)]
    for at, price in changes:
        prices_record([PricePoint(offer.pk, small.pk, "dynamic", price, "USD", 0.5)], at=at)
    renter = factories.renter(email="tomo@example.test", timezone="Asia/Tokyo")
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, renter.email)

    page.goto(f"/offerings/{offer.pk}/?range=24h")
    canvas = page.locator(f"#prices-{small.pk} canvas[data-chart]")
    canvas.wait_for()
    page.wait_for_function(
        "c => c.getAttribute('data-rendered') === 'true'", arg=canvas.element_handle(), timeout=10_000
    )
    assert int(canvas.get_attribute("data-points") or 0) > 0
    assert "Asia/Tokyo" in (canvas.get_attribute("aria-label") or "")
    table = page.locator(f"#prices-{small.pk} table[data-testid=price-table]")
    assert table.locator("th").first.inner_text() == "When (Asia/Tokyo)"
    prices = table.locator("td.price").all_inner_texts()
    assert prices == ["1.00 USD", "1.50 USD", "1.25 USD"]
    tokyo = ZoneInfo("Asia/Tokyo")
    whens = table.locator("tbody tr td:first-child").all_inner_texts()
    assert whens == [at.astimezone(tokyo).strftime("%Y-%m-%d %H:%M") for at, _ in changes]

    # A range that ends before the changes shows none of them, and says so.
    page.goto(f"/offerings/{offer.pk}/?range=custom&since=2026-01-01T00:00&until=2026-01-02T00:00")
    assert "No price recorded in this range yet." in page.locator(f"#prices-{small.pk}").inner_text()
    assert errors == []
