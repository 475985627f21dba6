"""Live status without reloads: the fragments htmx polls on My bookings and on a booking's page, what each
shows per state (the cost so far from billing's own charge), that polling stops at a final state, and that
they are the renter's only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from marketplace.lib.money import prorate
from provisioning import services
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import add_ssh_key, booking

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def running(sim_offering, renter):  # type: ignore[no-untyped-def]
    """A 600 s booking priced 100 (0.01 USD a grid minute × 10), its server launched at its start."""
    add_ssh_key(renter)
    with time_machine.travel(T0, tick=False):
        b = booking(renter, sim_offering, starts_at=T0)
        services.server_launch(booking_id=b.pk)
    b.refresh_from_db()
    assert (b.state, b.total_price) == ("running", 100)
    return b


def _attrs(html: str) -> dict[str, str]:
    tag = re.search(r"<[^>]*data-rate-per-second[^>]*>", html)
    assert tag, html
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag.group(0)))


def test_a_running_row_polls_and_shows_the_cost_so_far_from_billing(running, renter):  # type: ignore[no-untyped-def]
    with time_machine.travel(T0 + timedelta(seconds=150), tick=False):
        row = login(renter).get(f"/market/bookings/{running.pk}/status")
        assert row.status_code == 200
        # What releasing now would charge: billing's settlement arithmetic.
        assert engine.release_cost(running, T0 + timedelta(seconds=150)).charge == 25
    html = row.content.decode()
    assert html.lstrip().startswith("<tr") and "<html" not in html
    assert f'id="booking-{running.pk}"' in html and "Running" in html
    assert f'hx-get="/market/bookings/{running.pk}/status"' in html and 'hx-trigger="every 3s"' in html
    attrs = _attrs(html)
    assert attrs["data-amount"] == "25" and attrs["data-ceiling"] == "100"
    assert float(attrs["data-rate-per-second"]) == pytest.approx(75 / 450)
    assert attrs["data-currency"] == "USD" and attrs["data-currency-exponent"] == "2"
    assert datetime.fromisoformat(attrs["data-since"]) == T0 + timedelta(seconds=150)
    assert "0.25 USD</span> so far" in html


def test_my_bookings_rows_poll_until_final(running, sim_offering, renter, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    ended = booking(renter, sim_offering, state="confirmed", starts_at=T0 + timedelta(hours=2))
    engine.booking_release(actor=renter, booking_id=ended.pk)
    for _ in range(20):  # ended rows cost no queries each
        engine.booking_release(actor=renter, booking_id=booking(renter, sim_offering, starts_at=T0).pk)
    c = login(renter)
    with django_assert_max_num_queries(30):
        html = c.get("/market/bookings/").content.decode()
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr [^>]*id="booking-(\d+)"[^>]*>', html)}
    assert 'hx-trigger="every 3s"' in rows[str(running.pk)]
    assert "hx-trigger" not in rows[str(ended.pk)] and 'data-state="released"' in rows[str(ended.pk)]
    assert "js/running-cost.js" in html


def test_release_stops_the_polling_and_shows_what_was_charged(running, renter):  # type: ignore[no-untyped-def]
    c = login(renter)
    with time_machine.travel(T0 + timedelta(seconds=300), tick=False):
        engine.booking_release(actor=renter, booking_id=running.pk)
    released = Booking.objects.get(pk=running.pk)
    expected = engine.release_cost(released, released.ended_at).charge
    assert expected == prorate(100, 300, 600)
    row = c.get(f"/market/bookings/{running.pk}/status").content.decode()
    assert "hx-trigger" not in row and "Released" in row and "running-cost" not in row
    html = c.get(f"/bookings/{running.pk}/server/", **HX).content.decode()
    assert "hx-trigger" not in html and "Released" in html
    assert "data-rate-per-second" not in html  # nothing counts up any more
    assert f'data-testid="running-cost">{expected // 100}.{expected % 100:02d} USD</span>' in html


def test_a_confirmed_booking_polls_without_a_cost(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering, starts_at=T0 + timedelta(hours=2))
    html = login(renter).get(f"/market/bookings/{b.pk}/status").content.decode()
    assert 'hx-trigger="every 3s"' in html and "Confirmed" in html
    assert "running-cost" not in html and f"/bookings/{b.pk}/server/" in html  # its page, to follow it
    live = login(renter).get(f"/bookings/{b.pk}/server/", **HX).content.decode()
    assert 'hx-trigger="every 3s"' in live and "No server yet" in live and "running-cost" not in live


def test_a_bid_row_polls_as_a_bid(owner, renter):  # type: ignore[no-untyped-def]
    offer = factories.auction_offering(owner)
    factories.fund_renter(renter, 100_000)
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        bid = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T0, 600), bid=20)
        html = login(renter).get(f"/market/bookings/{bid.pk}/status").content.decode()
    assert 'class="bid-row state-requested"' in html and "bidding" in html and 'hx-trigger="every 3s"' in html
    assert "Withdraw" in html


def test_the_server_page_polls_its_live_part_and_answers_it_alone(running, renter):  # type: ignore[no-untyped-def]
    c = login(renter)
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        page = c.get(f"/bookings/{running.pk}/server/")
        part = c.get(f"/bookings/{running.pk}/server/", **HX)
        # htmx restoring the page from its history asks for the whole page.
        restore = c.get(f"/bookings/{running.pk}/server/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    full = page.content.decode()
    assert "<html" in full and 'id="booking-live"' in full and 'id="usage-heading"' in full
    assert "js/running-cost.js" in full
    html = part.content.decode()
    assert html.lstrip().startswith('<section id="booking-live"') and "<html" not in html
    assert "usage-heading" not in html
    assert f'hx-get="/bookings/{running.pk}/server/"' in html and 'hx-trigger="every 3s"' in html
    assert 'data-testid="ssh-command">ssh ubuntu@198.51.100.' in html
    assert _attrs(html)["data-amount"] == str(prorate(100, 60, 600))
    assert "HX-Request" in part["Vary"] and "HX-Request" in page["Vary"]
    assert "<html" in restore.content.decode()


def test_a_notice_shows_its_deadline_and_counts_up_to_it(running, owner, renter):  # type: ignore[no-untyped-def]
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        engine.booking_preempt(actor=owner, booking=running, notice_seconds=240, reason="maintenance")
        b = Booking.objects.get(pk=running.pk)
        assert b.state == "notice" and b.preempt_deadline == T0 + timedelta(seconds=300)
        html = login(renter).get(f"/bookings/{running.pk}/server/", **HX).content.decode()
    assert 'data-testid="notice-deadline"' in html and "09:05:00" in html
    assert 'hx-trigger="every 3s"' in html
    attrs = _attrs(html)
    # It grows until the deadline only: billing charges nothing after it.
    assert attrs["data-ceiling"] == str(prorate(100, 300, 600)) and attrs["data-amount"] == "10"
    assert float(attrs["data-rate-per-second"]) == pytest.approx((50 - 10) / 240)


def test_fragments_are_the_renters_only(running, owner, staff):  # type: ignore[no-untyped-def]
    for user in (factories.renter(), owner, staff):
        c = login(user)
        assert c.get(f"/market/bookings/{running.pk}/status").status_code == 404
        assert c.get(f"/bookings/{running.pk}/server/", **HX).status_code == 404
    anonymous = Client().get(f"/market/bookings/{running.pk}/status", **HX)
    # A signed-out poll is sent to the login page as a whole page (HX-Redirect), nothing swapped in.
    assert anonymous.status_code == 200 and anonymous.content == b""
    assert anonymous["HX-Redirect"].startswith("/accounts/login/")


def test_a_buy_lands_on_the_booking_page(owner, renter):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True)
    factories.fund_renter(renter, 10_000)
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        r = login(renter).post(f"/market/slices/{factories.slice_id(offer, T0, 600)}/request")
    b = Booking.objects.get()
    assert r.status_code == 302 and r.url == f"/bookings/{b.pk}/server/"


def test_the_apis_charges_so_far_are_the_portals_and_the_final_charge(sim_offering, renter):  # type: ignore[no-untyped-def]
    """GET /timeslots/{id}/usage says what billing charges (here a policy that charges the whole slice on
    release), as the portal's running cost does, not a share of the price by the time used."""
    from rest_framework.test import APIClient

    from owners.models import PricingPolicy
    from scheduling.selectors import booking_running_cost

    PricingPolicy.objects.filter(offering=sim_offering).update(release_charge="full")
    add_ssh_key(renter)
    with time_machine.travel(T0, tick=False):
        b = booking(renter, sim_offering, starts_at=T0)
        services.server_launch(booking_id=b.pk)
    api = APIClient()
    api.force_authenticate(renter)
    at = T0 + timedelta(seconds=150)
    with time_machine.travel(at, tick=False):
        during = api.get(f"/api/v1/timeslots/{b.pk}/usage").json()
        portal = booking_running_cost(Booking.objects.get(pk=b.pk), at)
    assert portal is not None and during["charges_so_far"] == f"{portal.amount // 100}.{portal.amount % 100:02d}"
    with time_machine.travel(T0 + timedelta(seconds=300), tick=False):
        engine.booking_release(actor=renter, booking_id=b.pk)
        after = api.get(f"/api/v1/timeslots/{b.pk}/usage").json()
    charged = engine.release_cost(Booking.objects.get(pk=b.pk), T0 + timedelta(seconds=300)).charge
    assert charged == 100 != prorate(100, 300, 600)  # the whole slice, not half of it
    assert after["state"] == "released" and after["charges_so_far"] == "1.00"
