"""Real Chromium (issue 15 item 6): buy the next slice from my bookings, and the bid form's preview of
how a bid would have fared in recent rounds, redrawn as the amount is typed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from marketplace.lib import clock
from owners.models import SliceProfile
from scheduling import services as engine
from scheduling.models import AuctionRound, Booking
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _console_error(errors: list[str], message) -> None:  # type: ignore[no-untyped-def]
    # The browser asks for /favicon.ico on its own; the site has none (not this page's doing).
    if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
        errors.append(f"{message.text} {message.location}")


def _start_in_two_hours():  # type: ignore[no-untyped-def]
    now = clock.now()
    return now.replace(second=0, microsecond=0) + timedelta(hours=2)


def test_buy_the_next_slice_from_my_bookings(page, live_server):
    owner = factories.owner()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10}, name="Next")
    renter = factories.renter(email="nina@example.test")
    factories.fund_renter(renter, 10_000)
    first = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, _start_in_two_hours(), 600))
    errors: list[str] = []
    page.on("console", lambda m: _console_error(errors, m))

    log_in(page, renter.email)
    page.goto("/market/bookings/")
    page.locator(f"#booking-{first.pk}").get_by_role("button", name="Buy the next slice…").click()
    preview = page.locator("article.cost-preview")
    expect(preview).to_contain_text("This slice costs 1.00 USD.")
    buy = preview.get_by_role("button", name="Buy for 1.00 USD")
    buy.scroll_into_view_if_needed()
    buy.click()
    expect(page).to_have_url(re.compile(r"/bookings/\d+/server/$"))  # the new booking's own page
    expect(page.locator("main")).to_contain_text("is confirmed: 1.00 USD is held for it")
    after = Booking.objects.exclude(pk=first.pk).get()
    assert page.url.endswith(f"/bookings/{after.pk}/server/")
    assert (after.starts_at, after.ends_at - after.starts_at) == (first.ends_at, timedelta(seconds=600))
    page.goto("/market/bookings/")
    expect(page.locator(f"#booking-{after.pk}")).to_contain_text("Next")
    assert errors == []


def test_the_bid_preview_follows_the_amount_typed(page, live_server):
    owner = factories.owner()
    offer = factories.auction_offering(owner, reserve=10, name="Auction")
    prof = SliceProfile.objects.get(owner=None, name="Small")
    past = clock.now() - timedelta(days=3)
    for i, price in enumerate([12, 15, 20, 30, 45]):
        start = past.replace(second=0, microsecond=0) + timedelta(hours=i)
        AuctionRound.objects.create(
            offering=offer,
            profile=prof,
            starts_at=start,
            ends_at=start + timedelta(minutes=10),
            closes_at=start - timedelta(minutes=10),
            state="cleared",
            currency="USD",
            reserve_price=10,
            clearing_rule="pay_as_bid",
            clearing_price=price,
            winners_count=1,
            bids_count=2,
            cleared_at=start - timedelta(minutes=10),
        )
    renter = factories.renter(email="bea@example.test")
    factories.fund_renter(renter, 10_000)  # a bid is checked against the funds it could take
    errors: list[str] = []
    page.on("console", lambda m: _console_error(errors, m))

    log_in(page, renter.email)
    sid = factories.slice_id(offer, _start_in_two_hours(), 600)
    page.goto(f"/market/slices/{sid}/request?bid=0.25")
    shown = page.locator("#bid-preview")
    expect(shown).to_contain_text("In the last 5 rounds, a bid of 0.25 USD would have won 3.")
    cost = page.get_by_test_id("bid-cost")
    expect(cost).to_have_text(re.compile(r"This bid costs at most 2\.50 USD"))  # 10 grid minutes at 0.25
    expect(shown).to_contain_text("lowest 0.12 USD, median 0.20 USD, highest 0.45 USD")
    page.fill("#id_bid", "0.50")
    expect(shown).to_contain_text("a bid of 0.50 USD would have won 5.")
    expect(cost).to_have_text(re.compile(r"This bid costs at most 5\.00 USD"))  # follows the amount typed
    page.fill("#id_bid", "0.11")
    expect(shown).to_contain_text("a bid of 0.11 USD would have won 0.")
    page.fill("#id_bid", "0.30")
    expect(shown).to_contain_text("would have won 4.")
    place = page.get_by_role("button", name="Place the bid")
    place.scroll_into_view_if_needed()
    place.click()
    expect(page).to_have_url(re.compile(r"/market/bookings/$"))
    bid = Booking.objects.get(renter=renter)
    assert (bid.state, bid.bid_amount) == ("requested", 30)  # the amount typed last, not the one the page opened with
    assert errors == []
