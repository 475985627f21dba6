"""Actions where people look for them (issue 15 item 6): buy the next slice, the bid preview, and the
owner's pause with confirmation."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from audit.models import DomainEvent
from owners import services as owner_services
from owners.models import Offering, SliceProfile
from scheduling import selectors
from scheduling import services as engine
from scheduling.models import AuctionRound, Booking
from scheduling.slices import decode_slice_id
from tests import factories
from tests.conftest import login
from tests.scheduling.conftest import NOW

pytestmark = pytest.mark.django_db
START = NOW + timedelta(hours=2)


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10})


@pytest.fixture
def booking(renter, offer):  # type: ignore[no-untyped-def]
    return engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, START, 600))


def test_buy_next_leads_to_the_buy_page_of_the_slice_after_it(renter, booking):
    c = login(renter)
    r = c.get(f"/market/bookings/{booking.pk}/next")
    assert r.status_code == 302
    url = urlsplit(r["Location"])
    key = decode_slice_id(url.path.split("/")[3])
    assert (key.offering_id, key.profile_id) == (booking.offering_id, booking.profile_id)
    assert (key.starts_at, key.length) == (booking.ends_at, 600)
    assert parse_qs(url.query) == {"next": ["/market/bookings/"]}
    page = c.get(r["Location"]).content.decode()
    assert "This slice costs 1.00 USD." in page and "Buy for 1.00 USD" in page  # 10 units of 0.10: the price now
    assert Booking.objects.count() == 1  # asking writes nothing
    bought = c.post(url.path, {"next": "/market/bookings/"})
    assert bought.status_code == 302
    after = Booking.objects.exclude(pk=booking.pk).get()
    assert (after.state, after.starts_at, after.ends_at) == (
        "confirmed",
        booking.ends_at,
        booking.ends_at + timedelta(seconds=600),
    )
    assert after.profile_id == booking.profile_id and after.renter == renter
    assert DomainEvent.objects.filter(verb="booking.confirmed", target_id=str(after.pk)).exists()


def test_my_bookings_offers_the_next_slice_only_while_the_booking_is_ahead(renter, booking):
    c = login(renter)
    assert f'href="/market/bookings/{booking.pk}/next"' in c.get("/market/bookings/").content.decode()
    engine.booking_release(actor=renter, booking_id=booking.pk)
    assert f'href="/market/bookings/{booking.pk}/next"' not in c.get("/market/bookings/").content.decode()
    r = c.get(f"/market/bookings/{booking.pk}/next", follow=True)
    assert "there is no next slice to buy after it" in r.content.decode()


def test_another_renters_booking_has_no_next_slice(booking):
    assert login(factories.renter()).get(f"/market/bookings/{booking.pk}/next").status_code == 404


def test_the_next_slice_of_a_paused_offering_is_not_sold(renter, owner, offer, booking):
    owner_services.offering_set_status(actor=owner, offering=Offering.objects.get(pk=offer.pk), status="paused")
    c = login(renter)
    page = c.get(c.get(f"/market/bookings/{booking.pk}/next")["Location"], follow=True).content.decode()
    assert "is paused: it sells nothing new" in page
    direct = c.post(f"/market/slices/{selectors.next_slice_id(booking)}/request", follow=True)
    assert "is paused: it sells nothing new" in direct.content.decode()
    assert Booking.objects.filter(state="confirmed").count() == 1


# ---- the bid preview --------------------------------------------------------------------------


@pytest.fixture
def auction(owner):  # type: ignore[no-untyped-def]
    return factories.auction_offering(owner, reserve=10)


def _cleared(offer: Offering, prices: list[int | None], *, profile: str = "Small") -> None:
    """Cleared rounds of earlier windows, oldest first (``None``: nobody won, at the reserve of 10)."""
    prof = SliceProfile.objects.get(owner=None, name=profile)
    for i, price in enumerate(prices):
        start = NOW - timedelta(days=30) + timedelta(hours=i)
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
            winners_count=0 if price is None else 1,
            bids_count=1,
            cleared_at=start - timedelta(minutes=10),
        )


def test_the_preview_counts_the_rounds_a_bid_would_have_won(auction):
    _cleared(auction, [99, 12, 15, 20, None, 30, 40, 50, 60, 70, 80])  # the oldest (99) is past the last 10
    prof = SliceProfile.objects.get(owner=None, name="Small")
    p = selectors.bid_preview(offering_id=auction.pk, profile_id=prof.pk, bid=25)
    assert (p.rounds, p.would_win, p.currency) == (10, 4, "USD")  # 12, 15, 20 and the unwon round (reserve 10)
    assert (p.low, p.median, p.high) == (12, 40, 80)
    assert selectors.bid_preview(offering_id=auction.pk, profile_id=prof.pk, bid=80).would_win == 10
    other = factories.auction_offering(auction.owner)
    assert selectors.bid_preview(offering_id=other.pk, profile_id=prof.pk, bid=80).rounds == 0


def test_the_bid_form_shows_the_preview_and_the_fragment_follows_the_amount(renter, auction):
    _cleared(auction, [12, 15, 20, 30])
    sid = factories.slice_id(auction, START, 600)
    c = login(renter)
    page = c.get(f"/market/slices/{sid}/request", {"bid": "0.25"}).content.decode()
    assert 'name="bid"' in page and 'value="0.25"' in page
    assert "In the last 4 rounds, a bid of <strong>0.25 USD</strong> would have won <strong>3</strong>." in page
    assert "lowest 0.12 USD, median 0.18 USD, highest 0.30 USD" in page
    assert f'hx-get="/market/slices/{sid}/bid-preview"' in page
    fragment = c.get(f"/market/slices/{sid}/bid-preview", {"bid": "0.11"}, HTTP_HX_REQUEST="true").content.decode()
    assert "would have won <strong>0</strong>" in fragment and "<html" not in fragment
    junk = c.get(f"/market/slices/{sid}/bid-preview", {"bid": "lots"}).content.decode()
    assert "Type a bid to see how it would have fared in the last 4 rounds" in junk
    assert c.get("/market/slices/not-a-slice/bid-preview", {"bid": "1"}).status_code == 404


def test_the_bid_forms_cost_follows_the_amount_typed(renter, auction):
    """The most a bid can cost is in the preview that updates as the renter types, not a line of the page
    computed once for the amount it opened with."""
    import re

    sid = factories.slice_id(auction, START, 600)
    c = login(renter)
    page = c.get(f"/market/slices/{sid}/request", {"bid": "0.20"}).content.decode()
    assert "This slice costs" not in page and "hx-include" not in page  # no length asked: nothing to include
    shorter = c.get(f"/market/slices/{sid}/request", {"bid": "0.20", "duration": "300"}).content.decode()
    assert "hx-include=\"[name='duration']\"" in shorter and 'name="duration" value="300"' in shorter

    def cost(bid: str, **more: str) -> str:
        html = c.get(f"/market/slices/{sid}/bid-preview", {"bid": bid, **more}).content.decode()
        found = re.search(r'data-testid="bid-cost">([^<]*)<', html)
        return found.group(1) if found else ""

    low, high = cost("0.20"), cost("0.40")
    amount = re.compile(r"at most ([0-9.]+) USD")
    assert re.search(r'data-testid="bid-cost">This bid costs at most [0-9.]+ USD', page)
    assert float(amount.search(high).group(1)) == 2 * float(amount.search(low).group(1)) > 0
    assert float(amount.search(cost("0.20", duration="300")).group(1)) == float(amount.search(low).group(1)) / 2
    assert "reserve" in cost("0.01").lower()  # below the reserve: said where the renter types
    assert cost("lots") == ""


def test_a_bid_below_the_reserve_shows_beside_the_bid_and_places_nothing(renter, auction):
    sid = factories.slice_id(auction, START, 600)
    r = login(renter).post(f"/market/slices/{sid}/request", {"bid": "0.05", "image": "ubuntu-24.04"})
    html = r.content.decode()
    assert r.status_code == 400 and 'id="id_bid-error"' in html
    assert not Booking.objects.exists()


def test_buy_next_of_a_won_bid_starts_the_bid_form_at_the_same_bid(renter, auction):
    won = engine.booking_request(actor=renter, slice_id=factories.slice_id(auction, START, 600), bid="0.20")
    Booking.objects.filter(pk=won.pk).update(state="confirmed", confirmed_at=NOW, unit_price=20)
    r = login(renter).get(f"/market/bookings/{won.pk}/next")
    assert parse_qs(urlsplit(r["Location"]).query)["bid"] == ["0.20"]


# ---- owners: pause with confirmation, resume ---------------------------------------------------


def test_pausing_asks_first_then_pauses_audited_and_the_page_offers_resume(owner, offer):
    c = login(owner)
    url = f"/owner/offerings/{offer.pk}/status"
    asked = c.post(url, {"status": "paused"})
    assert asked.status_code == 200 and "Pause sales of" in asked.content.decode()
    assert Offering.objects.get(pk=offer.pk).status == "published"
    assert c.post(url, {"status": "paused", "confirm": "yes"}).status_code == 302
    assert Offering.objects.get(pk=offer.pk).status == "paused"
    assert DomainEvent.objects.filter(verb="offering.paused", target_id=str(offer.pk)).exists()
    page = c.get(f"/owner/offerings/{offer.pk}/").content.decode()
    assert "Resume sales" in page and "Sales are paused" in page
    assert f'action="/owner/market/offerings/{offer.pk}/preempt"' in page
    assert f'href="/owner/offerings/{offer.pk}/standby"' in page
    assert c.post(url, {"status": "published"}).status_code == 302  # resuming needs no confirmation
    assert Offering.objects.get(pk=offer.pk).status == "published"


def test_another_owner_cannot_pause(other_owner, offer):
    r = login(other_owner).post(f"/owner/offerings/{offer.pk}/status", {"status": "paused", "confirm": "yes"})
    assert r.status_code == 404
    assert Offering.objects.get(pk=offer.pk).status == "published"
