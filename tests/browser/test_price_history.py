"""The price history in real Chromium, on the offering page and opened in place in the slice search:
a drawn step chart with data, the table beside it showing the same prices, times in the viewer's zone
(named), no console errors."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.lib import clock
from owners.models import SliceProfile
from scheduling.services.prices import PricePoint, prices_record
from tests import factories
from tests.browser.journey import assert_chart, no_console_errors, screenshot
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


def test_slice_search_opens_a_results_price_history_in_place(page):
    owner = factories.owner()
    offer = factories.dynamic_offering(owner, base=100, floor=50, cap=300)
    small = SliceProfile.objects.get(owner=None, name="Small")
    now = clock.now()
    for at, price in [(now - timedelta(days=20), 80), (now - timedelta(hours=5), 150), (now - timedelta(hours=1), 125)]:
        prices_record([PricePoint(offer.pk, small.pk, "dynamic", price, "USD", 0.5)], at=at)
    renter = factories.renter(email="sena@example.test", timezone="Asia/Tokyo")
    with no_console_errors(page):
        log_in(page, renter.email)
        page.goto("/market/slices/")
        page.fill("input[name=cpu]", "1")
        page.click("main form button:has-text('Search')")
        rows = page.locator("tr.price-history-row")
        rows.first.wait_for()
        assert rows.count() == 3  # one per result (three start times of the one offering)
        assert page.locator("canvas").count() == 0  # nothing read before a renter asks

        first = rows.nth(0)
        first.locator("summary").click()  # opens the toggle: htmx loads this result's history into it
        points = assert_chart(page, "tr.price-history-row >> nth=0 >> canvas[data-testid=price-chart]")
        assert points > 0
        panel = first.locator("[data-testid=price-history-panel]")
        assert "Asia/Tokyo" in panel.inner_text()
        panel.locator("details.price-table summary").click()
        table = panel.locator("table[data-testid=price-table]")
        assert table.locator("th").first.inner_text() == "When (Asia/Tokyo)"
        # The last 7 days: 0.80 (in force at their start), then 1.50 and 1.25 (the search may add its quote).
        assert table.locator("td.price").all_inner_texts()[:3] == ["0.80 USD", "1.50 USD", "1.25 USD"]
        csv = panel.locator("[data-testid=price-csv]").get_attribute("href") or ""
        assert csv.startswith(f"/offerings/{offer.pk}/prices/{small.pk}?") and "format=csv" in csv

        # Another range, in place: the last 24 hours leave out the 20-day-old change's own row
        # (it is the price in force at their start, drawn from there and listed first).
        first.locator("select[name=range]").select_option("24h")
        first.locator("button:has-text('Show')").click()
        page.wait_for_function(
            "() => { const p = document.querySelector('tr.price-history-row [data-testid=price-history-panel]');"
            " return p && p.querySelector('select[name=range]').value === '24h'"
            " && p.querySelector('canvas[data-rendered=true]'); }"
        )
        assert_chart(page, "tr.price-history-row >> nth=0 >> canvas[data-testid=price-chart]")
        assert first.locator("select[name=range]").input_value() == "24h"

        # A refused range: its error beside its field, in the panel, and the page still works.
        first.locator("select[name=range]").select_option("custom")
        first.locator("input[name=since]").fill("2026-11-30T10:00")
        first.locator("input[name=until]").fill("2026-11-30T09:00")
        first.locator("button:has-text('Show')").click()
        until = first.locator("input[name=until][aria-invalid=true]")
        until.wait_for()
        error_id = (until.get_attribute("aria-describedby") or "").split()[-1]
        assert "after the start" in page.locator(f"#{error_id}").inner_text()

        # A second result's chart opens beside it, with ids of its own.
        second = rows.nth(1)
        second.locator("summary").click()
        assert_chart(page, "tr.price-history-row >> nth=1 >> canvas[data-testid=price-chart]")
        ids = page.locator("canvas[data-testid=price-chart]").evaluate_all("cs => cs.map(c => c.dataset.chart)")
        assert len(ids) == 2 and len(set(ids)) == 2
        screenshot(page, "slice-search-price-history")
