"""Real Chromium: a booking's page and My bookings follow the booking live (htmx polling, no reload) from
confirmed to running to released, the running cost counts up each second, and polling stops at the end."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest

from marketplace.lib import clock
from provisioning import tasks
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.browser.test_portals import log_in
from tests.provisioning.helpers import add_ssh_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COST = "[data-testid=running-cost]"
SHOWN = (
    "() => { const e = document.querySelector('[data-testid=running-cost]'); return [e.dataset.since, e.textContent]; }"
)


def _watch(page):  # type: ignore[no-untyped-def]
    """Console errors, page errors, failed responses and CSP violations, and the htmx polls the page sends."""
    errors: list[str] = []
    polls: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return errors, polls


def _amount(page) -> float:  # type: ignore[no-untyped-def]
    return float(page.inner_text(COST).split()[0])


def test_the_booking_page_follows_the_booking_and_counts_its_cost_up(page, settings):  # type: ignore[no-untyped-def]
    settings.SIMULATOR_LAUNCH_SECONDS = 0
    settings.SIMULATOR_FAIL_RATE = 0
    settings.PROVISIONING_LEAD_SECONDS = 60
    owner = factories.owner()
    renter = factories.renter(email="rita@example.test")
    add_ssh_key(renter)
    factories.fund_renter(renter, 100_000)
    # 0.50 USD per 5 s: the cost grows by 0.10 USD a second.
    offer = factories.offering(
        owner, publish=True, grid_seconds=5, min_length_seconds=5, pricing={"model": "fixed", "price_per_unit": 50}
    )
    now = clock.now()
    start = now.replace(microsecond=0) + timedelta(seconds=10 - now.second % 5)
    booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, 600))
    assert booking.state == "confirmed"

    errors, polls = _watch(page)
    log_in(page, renter.email)
    page.goto(f"/bookings/{booking.pk}/server/")
    assert page.inner_text("[data-testid=booking-state]") == "Confirmed"
    assert page.locator(COST).count() == 0  # nothing costs anything before it runs
    page.evaluate("window.notReloaded = true")

    # The start step (provisioning's task body, as the worker runs it): the simulator's server is ready.
    assert tasks.deliver_booking.run(booking.pk) == "launched"
    assert Booking.objects.get(pk=booking.pk).state == "running"
    page.wait_for_selector("[data-testid=booking-state]:text-is('Running')", timeout=10_000)
    assert page.inner_text("[data-testid=ssh-command]").startswith("ssh ubuntu@")

    # Once the slice has started, the cost counts up between polls, a second at a time.
    time.sleep(max(0.0, (start - clock.now()).total_seconds()) + 1)
    page.wait_for_selector(f"{COST}:not(:text-is('0.00 USD'))")
    first = _amount(page)
    samples = []  # (the server's figure it counts from, what the page shows), 5 a second
    for _ in range(15):
        page.wait_for_timeout(200)
        samples.append(page.evaluate(SHOWN))
    later = _amount(page)
    assert later >= first + 0.1, (first, later)
    # Between two polls (the same server figure), the page itself counted up.
    assert any(a[0] == b[0] and b[1] != a[1] for a, b in itertools.pairwise(samples)), samples
    assert page.inner_text(COST).endswith(" USD")

    engine.booking_release(actor=renter, booking_id=booking.pk)
    page.wait_for_selector("[data-testid=booking-state]:text-is('Released')", timeout=10_000)
    released = Booking.objects.get(pk=booking.pk)
    charged = engine.release_cost(released, released.ended_at).charge
    assert charged is not None and charged > 0
    assert page.inner_text(COST) == f"{charged / 100:.2f} USD"
    assert page.evaluate("window.notReloaded") is True  # all of it without a reload
    # A final state stops the polling.
    sent = len(polls)
    page.wait_for_timeout(4000)
    assert len(polls) == sent
    assert errors == []


def test_my_bookings_rows_follow_their_bookings(page, settings):  # type: ignore[no-untyped-def]
    owner = factories.owner()
    renter = factories.renter(email="rita@example.test")
    factories.fund_renter(renter, 100_000)
    offer = factories.offering(owner, publish=True)
    start = clock.now().replace(second=0, microsecond=0) + timedelta(hours=3)
    booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, 600))

    errors, _ = _watch(page)
    log_in(page, renter.email)
    page.goto("/market/bookings/")
    row = f"#booking-{booking.pk}"
    assert "Confirmed" in page.inner_text(row)
    page.evaluate("window.notReloaded = true")
    engine.booking_release(actor=renter, booking_id=booking.pk)
    page.wait_for_selector(f"{row}[data-state=released]", timeout=10_000)
    assert "Released" in page.inner_text(row) and "Release…" not in page.inner_text(row)
    assert page.evaluate("window.notReloaded") is True
    assert errors == []
