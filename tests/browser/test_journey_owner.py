"""Real Chromium, an owner's journey (issue 15 item 8): a new offering with a window and a price through the
owner portal's forms, a renter's bookings showing on the owner's market page with the renter's handle,
the revenue they earn, and a preemption with notice whose deadline the booking then shows.

The renter's side is played through the engine's services (the renter journey drives it in the browser).
Each step is a function of its own. No page may log a console error. Screenshots of the run are kept
under ``test-results/screenshots/test_owner_journey/`` (git-ignored; CI keeps them as artefacts).
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from playwright.sync_api import Page, expect

from marketplace.lib import clock
from marketplace.lib.money import format_minor
from owners.models import Offering
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.browser.journey import assert_chart, no_console_errors, screenshot
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRICE = 5  # minor units (0.05 USD) per one-minute grid unit
NOTICE = 300


def step_create_offering(page: Page) -> Offering:
    """The owner's forms: the offering, a window around the current time, a fixed price, publish."""
    page.goto("/owner/offerings/new")
    page.select_option("select[name=cloud]", label="Lab cloud")
    page.fill("input[name=name]", "Porto racks")
    for field, value in {
        "vcpus": "8",
        "ram_mib": "16384",
        "disk_gb": "100",
        "bandwidth_mbps": "1000",
        "grid_seconds": "60",
        "min_length_seconds": "120",
        "max_length_seconds": "7200",
    }.items():
        page.fill(f"input[name={field}]", value)
    page.fill("input[name=allowed_images_text]", "ubuntu-24.04")
    page.click("main button:has-text('Save')")
    page.wait_for_selector("h1:has-text('Porto racks')")
    offering = Offering.objects.get(name="Porto racks")
    assert offering.timezone == "UTC"  # the window below is typed in the offering's zone

    opens = (clock.now() - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    closes = opens + timedelta(hours=4)
    page.fill("#windows input[name=start_time]", f"{opens:%H:%M}")
    page.fill("#windows input[name=end_time]", f"{closes:%H:%M}")
    page.click("#windows button:has-text('Add window')")  # htmx swaps the table in place
    expect(page.locator("#windows tbody tr").first).to_contain_text(f"{opens:%H:%M}")
    expect(page.locator("#windows tbody tr").first).to_contain_text(f"{closes:%H:%M}")

    page.click("text=Add a price")
    page.select_option("select[name=profile]", label="Small")
    page.select_option("select[name=model]", "fixed")
    page.fill("input[name=price_per_unit]", format_minor(PRICE, "USD").split()[0])
    page.select_option("select[name=release_charge]", "full")
    page.click("main button:has-text('Save')")
    page.wait_for_selector(f"td:has-text('{format_minor(PRICE, 'USD')}')")
    page.click("button:has-text('Publish')")
    page.wait_for_selector(".status-published")
    screenshot(page, "01-offering")
    return Offering.objects.get(pk=offering.pk)


def renter_books(renter, offering: Offering, *, in_minutes: int, minutes: int) -> Booking:  # type: ignore[no-untyped-def]
    """A renter buys a slice of the new offering (through the engine's service, as the API does)."""
    start = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=in_minutes)
    booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offering, start, minutes * 60))
    assert booking.state == "confirmed", booking.reason
    return booking


def step_bookings_on_the_market_page(page: Page, renter, bookings: list[Booking]) -> None:  # type: ignore[no-untyped-def]
    """The owner's market page lists each booking with the renter's handle (never their email)."""
    page.goto("/owner/market/")
    for b in bookings:
        row = page.locator("tr.booking-row", has=page.locator(f"td:text-is('{b.pk}')"))
        expect(row).to_contain_text("Porto racks")
        expect(row).to_contain_text(renter.handle)
        expect(row).to_contain_text(format_minor(b.total_price, "USD"))
    assert renter.email not in page.inner_text("main")
    screenshot(page, "02-market")


def step_booking_on_the_calendar(page: Page, renter, offering: Offering, booking: Booking) -> None:  # type: ignore[no-untyped-def]
    """The offering's calendar draws the booking in its lane, named by the renter's handle."""
    page.goto(f"/owner/offerings/{offering.pk}/")
    page.click("[data-testid=calendar-link]")
    page.wait_for_url(f"**/owner/offerings/{offering.pk}/calendar**")
    bar = page.locator(f"svg g.cal-booking[aria-label^='Booking {booking.pk} by ']")
    expect(bar).to_have_count(1)
    label = bar.get_attribute("aria-label") or ""
    assert renter.handle in label and renter.email not in page.content(), label
    screenshot(page, "02b-calendar")


def step_revenue(page: Page, released: Booking) -> None:
    """The released booking's charge is the owner's revenue, less the platform's 10 %."""
    gross = released.total_price
    fee = gross // 10
    page.goto("/billing/owner/")
    revenue = page.locator("main table", has=page.locator("th:text-is('Renters paid')"))
    row = revenue.locator("tbody tr", has_text="Porto racks")
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[1:] == [
        "Porto racks",
        format_minor(gross, "USD"),
        format_minor(fee, "USD"),
        format_minor(0, "USD"),
        format_minor(gross - fee, "USD"),
    ], cells
    expect(page.locator("[data-testid=payable-USD]")).to_have_text(format_minor(gross - fee, "USD"))
    assert_chart(page, "[data-testid=revenue-chart-USD]")  # the day's earnings drawn, not only tabled
    screenshot(page, "03-revenue")


def step_preempt_with_notice(page: Page, booking: Booking) -> None:
    """Preempting asks first, saying when the booking will end; confirmed, the booking shows that deadline."""
    page.goto("/owner/market/")
    row = page.locator("tr.booking-row", has=page.locator(f"td:text-is('{booking.pk}')"))
    row.locator("input[name=notice_seconds]").fill(str(NOTICE))
    row.locator("button:has-text('Preempt')").click()
    page.wait_for_selector(f"h1:has-text('Preempt booking {booking.pk} on Porto racks?')")
    expect(page.locator("main")).to_contain_text(f"Booking {booking.pk} ends as preempted at ")
    expect(page.locator("main")).to_contain_text(f"({NOTICE} s notice)")
    assert Booking.objects.get(pk=booking.pk).state == "confirmed"  # nothing happens before the confirmation
    screenshot(page, "04-preempt-confirm")
    page.click("main button:has-text('Preempt')")
    page.wait_for_url("**/owner/market/")

    noticed = Booking.objects.get(pk=booking.pk)
    assert noticed.state == "notice" and noticed.preempt_deadline is not None
    assert abs((noticed.preempt_deadline - clock.now()).total_seconds() - NOTICE) < 30
    deadline = noticed.preempt_deadline.astimezone(UTC)  # the owner's zone
    expect(page.locator("main")).to_contain_text(
        f"Booking {booking.pk}: notice given until {deadline:%Y-%m-%d %H:%M:%S} UTC."
    )
    row = page.locator("tr.booking-row", has=page.locator(f"td:text-is('{booking.pk}')"))
    expect(row.locator("mark")).to_have_text("Preemption notice")
    expect(row).to_contain_text(f"until {deadline:%H:%M:%S}")
    expect(row.locator("button:has-text('Preempt')")).to_have_count(0)  # no second notice
    screenshot(page, "05-notice")


def test_owner_journey(page, settings):  # type: ignore[no-untyped-def]
    settings.PLATFORM_FEE_PERCENT = "10"
    owner = factories.owner(email="omar@example.test")
    factories.cloud(owner, name="Lab cloud")
    renter = factories.renter(email="rui@example.test")
    factories.fund_renter(renter, 5000)

    with no_console_errors(page):
        log_in(page, owner.email)
        offering = step_create_offering(page)
        released = renter_books(renter, offering, in_minutes=5, minutes=10)
        engine.booking_release(actor=renter, booking_id=released.pk)  # charged in full, as the price says
        noticed = renter_books(renter, offering, in_minutes=2, minutes=30)
        step_bookings_on_the_market_page(page, renter, [released, noticed])
        step_booking_on_the_calendar(page, renter, offering, noticed)
        step_revenue(page, released)
        step_preempt_with_notice(page, noticed)
