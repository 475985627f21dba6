"""Real Chromium, a renter's whole journey (issue 15 item 8): search slices, pick a start on the calendar, buy, be told the
server is ready (the engine delivers it: a real Celery worker on the simulator cloud), watch its usage,
extend, release, and find the charge on the statement (the page, its CSV and its PDF).

Each step is a function of its own; the start is picked on the offering's calendar, and the usage
charts are checked for data points. No page may log a console error. Screenshots of the run are kept under
``test-results/screenshots/test_renter_journey/`` (git-ignored; CI keeps them as artefacts).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from marketplace.lib import clock, enqueue
from marketplace.lib.money import format_minor
from owners.models import Offering
from provisioning.models import UsageSample
from scheduling.models import Booking
from tests import factories
from tests.browser.journey import assert_chart, engine_worker, fast_delivery, no_console_errors, screenshot
from tests.browser.test_portals import log_in
from tests.provisioning.worker import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

UNIT_PRICE = 2  # minor units (0.02 USD) per 10-second grid unit
GRID = 10
LENGTH = 120  # the offering's shortest slice: what the search lists by default
EXTENSION = 60


@dataclass
class Bought:
    booking: Booking
    total: int  # minor units


def step_search_slices(page: Page, offering: Offering) -> None:
    """The renter searches slices soonest first and finds the offering's."""
    page.goto("/market/slices/")
    page.select_option("select[name=ordering]", "start")
    page.click("main form button:has-text('Search')")
    page.wait_for_selector("tr.slice-row")
    assert offering.name in page.locator("tr.slice-row").first.inner_text()
    screenshot(page, "01-slices")


def step_pick_start(page: Page, offering: Offering) -> None:
    """On the offering's calendar the renter clicks the first free spot (today's, from the next grid
    point on): the slice search opens at that start, and its first slice goes to the buy page."""
    page.goto(f"/offerings/{offering.pk}/")
    page.click("[data-testid=calendar-link]")
    spot = page.locator("[data-testid=free-spot]").first
    expect(spot).to_have_attribute("aria-label", re.compile(r"free .*; pick a start at "))
    screenshot(page, "01b-calendar")
    # By keyboard: the spot from now to the next hour may be a sliver too thin to point at.
    spot.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/market/slices/**")
    first = page.locator("tr.slice-row").first
    assert offering.name in first.inner_text()
    first.locator("button:has-text('Buy')").click()
    page.wait_for_selector("h1:has-text('Buy this slice?')")


def step_buy(page: Page, renter) -> Bought:  # type: ignore[no-untyped-def]
    """The price comes first; buying lands on the bookings with the booking confirmed."""
    total = UNIT_PRICE * LENGTH // GRID
    price = format_minor(total, "USD")
    assert f"This slice costs {price}." in page.inner_text("main")
    page.click(f"button:has-text('Buy for {price}')")
    page.wait_for_url("**/bookings/*/server/")  # the booking's own page, which follows it live
    booking = Booking.objects.get(renter=renter)
    assert page.url.endswith(f"/bookings/{booking.pk}/server/")
    expect(page.locator("#booking-live")).to_contain_text(price)
    return Bought(booking, total)


def step_told_server_ready(page: Page, bought: Bought) -> str:
    """The engine delivers the server; the badge counts the news and the list says how to connect."""
    pk = bought.booking.pk
    wait_for(lambda: Booking.objects.get(pk=pk).state == "running", 30, f"booking {pk} to run")
    page.goto("/market/bookings/")
    expect(page.locator(f"#booking-{pk}")).to_contain_text("Running")
    badge = page.locator("[data-testid=unread-badge]").inner_text()
    page.click("[data-testid=notifications-link]")
    expect(page.locator("[data-testid=unread-count]")).to_have_text(badge)  # the badge counts what is new
    ready = page.locator("li.notification", has_text=f"Server ready for booking {pk}")
    expect(ready).to_be_visible()
    command = re.search(r"Connect with: (ssh \S+@\S+) \(with your SSH key\)", ready.inner_text())
    assert command, ready.inner_text()
    screenshot(page, "02-server-ready")
    return command.group(1)


def _usage(page: Page) -> tuple[int, int]:
    """(seconds held, readings) as the server page's usage section shows them."""
    text = page.locator("section[aria-labelledby=usage-heading]").inner_text()
    held = re.search(r"Seconds held\s+(\d+)", text)
    readings = re.search(r"measured over (\d+) reading", text)
    assert held and readings, text
    return int(held.group(1)), int(readings.group(1))


def step_watch_usage(page: Page, bought: Bought, command: str) -> None:
    """The server page shows the command of the notification, and usage that grows as beat meters the server."""
    booking = bought.booking
    page.goto(f"/bookings/{booking.pk}/server/")
    expect(page.locator("main")).to_contain_text(command)
    # The server is ready within the boot lead, before the slice starts: its time is counted from the start.
    wait_for(lambda: clock.now() > booking.starts_at + timedelta(seconds=1), GRID + 10, "the slice to start")
    page.reload()
    held, readings = _usage(page)
    page.wait_for_timeout(1100)  # the renter watches for a second (and the metering interval passes)
    enqueue.send("provisioning.meter")  # what beat does every interval: the metering sweep, run by the worker
    wait_for(lambda: UsageSample.objects.filter(booking=booking).count() > readings, 10, "the worker's usage reading")
    page.reload()
    held_now, readings_now = _usage(page)
    assert held_now > held >= 0 and readings_now > readings, (held, readings, held_now, readings_now)
    usage = page.locator("section[aria-labelledby=usage-heading]")
    expect(usage.locator("table tbody tr").first).to_be_visible()  # the per-interval table
    for metric in ("cpu", "memory", "disk", "network"):  # and its charts, drawn from the same readings
        assert_chart(page, f"[data-testid=usage-chart-{metric}]")
    screenshot(page, "03-usage")


def step_extend(page: Page, bought: Bought) -> None:
    """The price of the extension comes first; extending moves the end and adds to the price."""
    pk = bought.booking.pk
    page.goto("/market/bookings/")
    page.click(f"#booking-{pk} a:has-text('Extend')")
    page.fill("input[name=duration]", f"{EXTENSION}s")
    page.click("button:has-text('See the price')")
    more = UNIT_PRICE * EXTENSION // GRID
    bought.total += more
    preview = page.locator("article.cost-preview")
    expect(preview).to_contain_text(f"costs {format_minor(more, 'USD')} more")
    expect(preview).to_contain_text(f"{format_minor(bought.total, 'USD')} in all")
    page.click(f"button:has-text('Extend: {format_minor(more, 'USD')} more')")
    page.wait_for_url("**/market/bookings/")
    expect(page.locator("main")).to_contain_text(f"Booking {pk} extended by {EXTENSION} seconds")
    expect(page.locator(f"#booking-{pk}")).to_contain_text(format_minor(bought.total, "USD"))
    assert Booking.objects.get(pk=pk).ends_at == bought.booking.ends_at + timedelta(seconds=EXTENSION)


def step_release(page: Page, bought: Bought) -> None:
    """The amount comes first (the offering charges the whole slice); releasing ends it and reclaims the server."""
    pk = bought.booking.pk
    price = format_minor(bought.total, "USD")
    page.click(f"#booking-{pk} a:has-text('Release')")
    expect(page.locator("main")).to_contain_text(f"Releasing booking {pk} now charges {price}")
    page.click(f"button:has-text('Release and pay {price}')")
    page.wait_for_url("**/market/bookings/")
    expect(page.locator("main")).to_contain_text(f"Booking {pk} released")
    expect(page.locator(f"#booking-{pk}")).to_contain_text("Released")
    screenshot(page, "04-released")


def step_statement_shows_the_charge(page: Page, bought: Bought) -> None:
    """The month's statement lists the charge, and its CSV and PDF downloads say the same."""
    pk = bought.booking.pk
    price = format_minor(bought.total, "USD")
    page.goto("/billing/statement")
    row = page.locator("main table tr", has_text=f"Booking #{pk}")
    expect(row).to_contain_text(f"-{price}")
    screenshot(page, "05-statement")

    with page.expect_download() as download:
        page.click("main a:text-is('CSV')")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    charge = [r for r in rows if r["kind"] == "charge" and r["booking_id"] == str(pk)]
    assert [(r["amount_minor"], r["currency"]) for r in charge] == [(str(-bought.total), "USD")], rows

    pdf = page.request.get(urljoin(page.url, page.locator("main a:text-is('PDF')").get_attribute("href") or ""))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)  # read back as a person would
    assert f"Booking #{pk}" in text and f"-{price}" in text, text


def test_renter_journey(page, settings, tmp_path):  # type: ignore[no-untyped-def]
    fast_delivery(settings)
    owner = factories.owner()
    offering = factories.offering(
        owner,
        publish=True,
        name="Lisbon night",
        grid_seconds=GRID,
        min_length_seconds=LENGTH,
        max_length_seconds=3600,
        pricing={"model": "fixed", "currency": "USD", "price_per_unit": UNIT_PRICE, "release_charge": "full"},
    )
    renter = factories.renter(email="rosa@example.test")
    factories.fund_renter(renter, 5000)  # well above the low-balance warning

    with no_console_errors(page), engine_worker(tmp_path / "worker.log"):
        log_in(page, renter.email)
        step_search_slices(page, offering)
        step_pick_start(page, offering)
        bought = step_buy(page, renter)
        command = step_told_server_ready(page, bought)
        step_watch_usage(page, bought, command)
        step_extend(page, bought)
        step_release(page, bought)
        step_statement_shows_the_charge(page, bought)
