"""Know the cost before the click (issue 12, points 3 and 6): release, buy and change profile show what
they will charge or return, from the function that charges it, ask first, and say after what they did;
``?preview=1`` on the API's POSTs answers without acting; an expired quote leads to a fresh one to buy.

Every test here fails on the code before issue 12: the confirmation pages were 405 (POST only), the
API had no preview and no ``cost``, and an expired quote sent the renter back to an empty search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from audit.models import DomainEvent
from billing import ledger
from billing.models import BookingCharge, LedgerEntry, LedgerTransaction
from owners.models import SliceProfile
from scheduling import services
from scheduling.models import Booking, PriceHistory, Quote
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
AHEAD = NOW + timedelta(hours=16)  # the booking: 16 hours ahead
HOUR = 3600


@pytest.fixture(autouse=True)
def _billing(_engine_only, settings):  # type: ignore[no-untyped-def]
    """Billing's real receivers (the charge preview among them), in the test's isolated registry."""
    from billing import integration

    settings.BILLING_MODE = "prepaid"
    settings.BILLING_FUNDS_CHECK = True
    settings.PLATFORM_FEE_PERCENT = "10"
    integration.register_with_engine()


def eur_offer(owner, release_charge: str = "full"):  # type: ignore[no-untyped-def]
    """0.08 EUR per one-minute unit: an hour is 4.80 EUR; released, the whole slice or the time used."""
    return factories.offering(
        owner,
        publish=True,
        pricing={"model": "fixed", "price_per_unit": 8, "currency": "EUR", "release_charge": release_charge},
    )


def api(user) -> APIClient:  # type: ignore[no-untyped-def]
    c = APIClient()
    c.force_authenticate(user)
    return c


def world() -> tuple[Any, ...]:
    """What an action could change: bookings and their states, holds, the ledger, the audit log, quotes."""
    return (
        sorted(Booking.objects.values_list("pk", "state", "profile_id", "total_price")),
        sorted(BookingCharge.objects.values_list("booking_id", "state", "price", "charged_amount")),
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        DomainEvent.objects.count(),
        Quote.objects.count(),
        PriceHistory.objects.count(),
    )


def book(renter, offer, start=AHEAD, length=HOUR, capture=None):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return services.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length))


# ---- release -------------------------------------------------------------------------------------------


def test_release_preview_in_the_api_shows_the_whole_slice_charge_and_changes_nothing(
    owner, renter, django_capture_on_commit_callbacks
):
    offer = eur_offer(owner, "full")
    factories.fund_renter(renter, 5000, "EUR")
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    before = world()

    r = api(renter).post(f"/api/v1/timeslots/{booking.pk}/release?preview=1")

    assert r.status_code == 200, r.content
    assert r.json() == {
        "preview": True,
        "booking": booking.pk,
        "cost": {
            "action": "release",
            "currency": "EUR",
            "charge": "4.80",
            "refund": "0.00",
            "held": "4.80",
            "price_before": "4.80",
            "price_after": "4.80",
            "note": "",
        },
    }
    assert world() == before  # nothing released, held, posted or audited

    with django_capture_on_commit_callbacks(execute=True):
        r = api(renter).post(f"/api/v1/timeslots/{booking.pk}/release")
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["cost"]["charge"], r.json()["cost"]["refund"]) == ("released", "4.80", "0.00")
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.state, charge.charged_amount) == ("settled", 480)
    assert ledger.balance_of("renter_balance", "EUR", renter) == 5000 - 480


def test_a_prorated_release_previews_and_charges_the_time_used(owner, renter, django_capture_on_commit_callbacks):
    offer = eur_offer(owner, "prorated")
    factories.fund_renter(renter, 5000, "EUR")
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    c = api(renter)
    # 16 hours ahead nothing is used: all of it comes back.
    assert c.post(f"/api/v1/timeslots/{booking.pk}/release?preview=1").json()["cost"] | {"note": ""} == {
        "action": "release",
        "currency": "EUR",
        "charge": "0.00",
        "refund": "4.80",
        "held": "4.80",
        "price_before": "4.80",
        "price_after": "4.80",
        "note": "",
    }
    with time_machine.travel(AHEAD + timedelta(minutes=15), tick=False):
        preview = c.post(f"/api/v1/timeslots/{booking.pk}/release?preview=1").json()["cost"]
        assert (preview["charge"], preview["refund"]) == ("1.20", "3.60")
        with django_capture_on_commit_callbacks(execute=True):
            done = c.post(f"/api/v1/timeslots/{booking.pk}/release").json()["cost"]
    assert (done["charge"], done["refund"]) == ("1.20", "3.60")
    assert BookingCharge.objects.get(booking_id=booking.pk).charged_amount == 120
    assert ledger.balance_of("renter_balance", "EUR", renter) == 5000 - 120


def test_release_preview_is_refused_as_the_release_is(owner, renter, django_capture_on_commit_callbacks):
    offer = eur_offer(owner)
    factories.fund_renter(renter, 5000, "EUR")
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    before = world()
    assert api(factories.renter()).post(f"/api/v1/timeslots/{booking.pk}/release?preview=1").status_code == 404
    assert api(owner).post(f"/api/v1/timeslots/{booking.pk}/release?preview=1").status_code == 403
    assert world() == before
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_release(actor=renter, booking_id=booking.pk)
    r = api(renter).post(f"/api/v1/timeslots/{booking.pk}/release?preview=1")
    assert r.status_code == 409 and r.json()["error"] == "invalid_transition"


def test_the_portal_shows_the_release_charge_first_then_releases_on_confirmation(
    owner, renter, django_capture_on_commit_callbacks
):
    offer = eur_offer(owner, "full")
    factories.fund_renter(renter, 5000, "EUR")
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    c = login(renter)
    mine = c.get("/market/bookings/").content.decode()
    assert f'href="/market/bookings/{booking.pk}/release"' in mine  # a link to the confirmation, not a POST
    before = world()

    page = c.get(f"/market/bookings/{booking.pk}/release")

    assert page.status_code == 200
    html = page.content.decode()
    assert f"Releasing booking {booking.pk} now charges 4.80 EUR of the 4.80 EUR held for it." in html
    assert "0.00 EUR returns to you." in html
    assert "Release and pay 4.80 EUR" in html and 'method="post"' in html
    assert world() == before

    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(f"/market/bookings/{booking.pk}/release", follow=True)
    assert f"Booking {booking.pk} released: 4.80 EUR charged, 0.00 EUR returned to you." in r.content.decode()
    assert Booking.objects.get(pk=booking.pk).state == "released"
    assert BookingCharge.objects.get(booking_id=booking.pk).charged_amount == 480


def test_withdrawing_a_bid_says_it_costs_nothing(owner, renter):
    auction = factories.auction_offering(owner, reserve=10, closes=600)
    factories.fund_renter(renter, 5000)
    bid = services.booking_request(
        actor=renter, slice_id=factories.slice_id(auction, AHEAD, 600), bid="0.40", duration=600
    )
    page = login(renter).get(f"/market/bookings/{bid.pk}/release").content.decode()
    assert "A bid costs nothing: nothing is charged." in page
    assert Booking.objects.get(pk=bid.pk).state == "requested"


# ---- buy -----------------------------------------------------------------------------------------------


def test_buy_preview_in_the_api_answers_the_price_and_buys_nothing(owner, renter, django_capture_on_commit_callbacks):
    offer = eur_offer(owner)
    factories.fund_renter(renter, 5000, "EUR")
    sid = factories.slice_id(offer, AHEAD, HOUR)
    before = world()
    r = api(renter).post(f"/api/v1/timeslots/{sid}/request?preview=1", {}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["preview"], body["booking"]) == (True, None)
    assert (body["cost"]["action"], body["cost"]["charge"], body["cost"]["currency"]) == ("buy", "4.80", "EUR")
    assert world() == before

    with django_capture_on_commit_callbacks(execute=True):
        r = api(renter).post(f"/api/v1/timeslots/{sid}/request", {}, format="json")
    assert r.status_code == 201
    assert (r.json()["cost"]["charge"], r.json()["cost"]["held"]) == ("4.80", "4.80")
    assert BookingCharge.objects.get(booking_id=r.json()["id"]).price == 480


def test_buy_preview_refuses_what_the_buy_would_refuse(owner, renter):
    offer = eur_offer(owner)
    before = world()
    r = api(renter).post(
        f"/api/v1/timeslots/{factories.slice_id(offer, AHEAD, HOUR)}/request?preview=1", {"duration": 90}, format="json"
    )
    assert r.status_code == 400 and "duration" in r.json()["fields"]
    assert world() == before


def test_the_portal_asks_before_buying_with_the_price(owner, renter, django_capture_on_commit_callbacks):
    offer = eur_offer(owner)
    factories.fund_renter(renter, 5000, "EUR")
    sid = factories.slice_id(offer, AHEAD, HOUR)
    c = login(renter)
    search = c.get("/market/slices/?start=2026-12-01T00:00&end=2026-12-01T01:00&duration=3600").content.decode()
    assert f'<form method="get" action="/market/slices/{sid}/request">' in search
    before = world()
    page = c.get(f"/market/slices/{sid}/request")
    assert page.status_code == 200
    html = page.content.decode()
    assert "This slice costs 4.80 EUR." in html and "Buy for 4.80 EUR" in html
    assert world() == before
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(f"/market/slices/{sid}/request", follow=True)
    booking = Booking.objects.get()
    assert f"Booking {booking.pk} is confirmed: 4.80 EUR is held for it" in r.content.decode()


# ---- change profile --------------------------------------------------------------------------------------


def profile(name: str) -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name=name)


def resizable(owner, renter, capture):  # type: ignore[no-untyped-def]
    """The issue's resize: a ten-minute booking, Small at 0.02 and Medium at 0.05 EUR a minute, running."""
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 2, "currency": "EUR"})
    factories.price(owner, offer, profile="Medium", price_per_unit=5, currency="EUR")
    factories.fund_renter(renter, 5000, "EUR")
    booking = book(renter, offer, length=600, capture=capture)
    with time_machine.travel(AHEAD, tick=False):
        return services.booking_transition(actor=None, booking=booking, to="running")


def test_a_profile_change_preview_is_the_change_rolled_back(owner, renter, django_capture_on_commit_callbacks):
    from scheduling.services.profile_change import booking_change_profile_preview

    booking = resizable(owner, renter, django_capture_on_commit_callbacks)
    before = world()
    at = AHEAD + timedelta(minutes=4)
    with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True) as fired:
        preview = booking_change_profile_preview(actor=renter, booking_id=booking.pk, profile_id=profile("Medium").pk)
    # 4 minutes at 0.02, then 6 at 0.05: from 0.20 to 0.38 EUR, as the resize did unannounced.
    assert (preview.price_before, preview.price_after, preview.extra, preview.charge) == (20, 38, 18, 38)
    assert world() == before and fired == []  # no change kept, no hook fired
    with time_machine.travel(at, tick=False):
        changed = services.booking_change_profile(actor=renter, booking_id=booking.pk, profile_id=profile("Medium").pk)
    assert changed.total_price == preview.price_after


def test_a_profile_change_preview_is_refused_as_the_change_is(owner, renter, django_capture_on_commit_callbacks):
    from billing.services import InsufficientFunds
    from scheduling.services.profile_change import booking_change_profile_preview

    booking = resizable(owner, renter, django_capture_on_commit_callbacks)
    # 10 EUR a minute (600 EUR per hour, under the market's price maximum): 6 minutes are 60 EUR, above the 50 EUR held.
    factories.price(owner, booking.offering, profile="Large", price_per_unit=1_000, currency="EUR")
    before = world()
    with time_machine.travel(AHEAD, tick=False), pytest.raises(InsufficientFunds):
        booking_change_profile_preview(actor=renter, booking_id=booking.pk, profile_id=profile("Large").pk)
    assert world() == before


def test_the_portal_shows_a_profile_change_price_first(owner, renter, django_capture_on_commit_callbacks):
    booking = resizable(owner, renter, django_capture_on_commit_callbacks)
    before = world()
    with time_machine.travel(AHEAD + timedelta(minutes=4), tick=False):
        page = login(renter).get(f"/market/bookings/{booking.pk}/profile?profile={profile('Medium').pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Booking {booking.pk}&#x27;s price goes from 0.20 EUR to 0.38 EUR (0.18 EUR more)." in html
    assert f'action="/bookings/{booking.pk}/server/resize"' in html and "Change profile: 0.38 EUR in all" in html
    assert world() == before


# ---- quotes that lead somewhere ---------------------------------------------------------------------------


def test_the_quote_page_shows_how_long_it_is_valid(owner, renter):
    dyn = factories.dynamic_offering(owner, base=100)
    with time_machine.travel(NOW, tick=False):
        page = login(renter).post(f"/market/slices/{factories.slice_id(dyn, AHEAD, 600)}/quote")
    html = page.content.decode()
    assert "Valid until <time" in html and "08:01:00 UTC" in html
    assert 'data-countdown="2026-11-30T08:01:00+00:00"' in html and "60 s left" in html
    assert 'src="/static/js/countdown.js"' in html and "<script>" not in html  # a file: no inline script


def test_an_expired_quote_offers_the_fresh_price_with_one_click_to_buy(owner, renter):
    dyn = factories.dynamic_offering(owner, base=100)
    factories.fund_renter(renter, 5000)
    sid = factories.slice_id(dyn, AHEAD, 600)
    c = login(renter)
    with time_machine.travel(NOW, tick=False):
        old = c.post(f"/market/slices/{sid}/quote").context["quote"]
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        page = c.post(f"/market/slices/{sid}/request", {"quote": str(old.pk), "duration": "600"})
        assert page.status_code == 200  # not a redirect to an empty search form
        html = page.content.decode()
        fresh = Quote.objects.exclude(pk=old.pk).get()
        assert "The quote expired at 08:01:00 UTC. A fresh quote is offered" in html
        assert f'name="quote" value="{fresh.pk}"' in html and "Buy at this price: 10.00 USD" in html
        assert not Booking.objects.exists()
        c.post(f"/market/slices/{sid}/request", {"quote": str(fresh.pk), "duration": "600"})
    booking = Booking.objects.get()
    assert (booking.state, booking.quote_id, booking.total_price) == ("confirmed", fresh.pk, fresh.total_price)


# ---- the hook, for what comes next (an extension) --------------------------------------------------------


def test_charge_preview_prices_a_hypothetical_end_and_longer_booking(owner, renter, django_capture_on_commit_callbacks):
    """An extension (issue 13) asks the same hook about the booking as it would be: longer, at a new price."""
    from scheduling import hooks

    offer = eur_offer(owner, "prorated")
    factories.fund_renter(renter, 5000, "EUR")
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    before = world()
    longer = Booking.objects.get(pk=booking.pk)
    longer.ends_at, longer.total_price = longer.ends_at + timedelta(hours=1), 960  # unsaved: what if
    assert hooks.charge_preview(longer, longer.ends_at, "completed") == hooks.Preview(960, "EUR", 960)
    half = hooks.charge_preview(longer, AHEAD + timedelta(minutes=90), "released")
    assert (half.amount, half.refund) == (720, 240)
    assert world() == before
    with hooks.isolated():  # the engine alone knows no money: the page says billing works it out
        assert hooks.charge_preview(booking, AHEAD, "released") is None
