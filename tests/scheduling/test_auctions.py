"""Sealed-bid auctions: bids, raises, withdrawals, clearing by price, priority and arrival; exact prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audit.models import DomainEvent
from marketplace.lib.errors import ValidationFailed
from notifications.models import Notification
from renters.models import RenterSettings
from scheduling import services
from scheduling.errors import BiddingClosed
from scheduling.models import AuctionRound, Booking, PriceHistory
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
AFTER_CLOSE = T10 - timedelta(minutes=5)  # bidding closes 10 minutes before the start


def offer_for(owner, rule="pay_as_bid"):  # type: ignore[no-untyped-def]
    # Four Smalls fit at once (bandwidth 1000 / 250).
    return factories.auction_offering(owner, reserve=10, rule=rule, closes=600)


def bid(renter, offer, amount, start=T10, length=600):  # type: ignore[no-untyped-def]
    return services.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length), bid=amount)


def clear():  # type: ignore[no-untyped-def]
    with time_machine.travel(AFTER_CLOSE, tick=False):
        return services.auctions_clear_due()


def states(bookings):  # type: ignore[no-untyped-def]
    return [(Booking.objects.get(pk=b.pk).state, Booking.objects.get(pk=b.pk).unit_price) for b in bookings]


def test_pay_as_bid_serves_the_highest_bids_and_each_pays_its_bid(owner, notified):
    offer = offer_for(owner)
    renters = [factories.renter() for _ in range(6)]
    bids = [
        bid(r, offer, amount)
        for r, amount in zip(renters, ["0.10", "0.20", "0.30", "0.40", "0.50", "0.60"], strict=True)
    ]
    assert all(b.state == "requested" and b.unit_price is None for b in bids)
    result = clear()
    assert (result.rounds, result.bids, result.winners) == (1, 6, 4)
    assert states(bids) == [
        ("outbid", None),
        ("outbid", None),
        ("confirmed", 30),
        ("confirmed", 40),
        ("confirmed", 50),
        ("confirmed", 60),
    ]
    assert Booking.objects.get(pk=bids[5].pk).total_price == 600  # 60 per minute × 10 minutes
    rnd = AuctionRound.objects.get()
    assert (rnd.state, rnd.clearing_price, rnd.winners_count, rnd.bids_count) == ("cleared", 30, 4, 6)
    told = Notification.objects.filter(kind="bid_outbid").order_by("user_id")
    assert [n.user_id for n in told] == [renters[0].pk, renters[1].pk]
    assert "was outbid" in told[0].body
    # The price history records the round's clearing price (pay-as-bid: the lowest winning bid).
    assert list(PriceHistory.objects.filter(source="auction").values_list("unit_price", flat=True)) == [30]
    event = DomainEvent.objects.get(verb="auction.cleared")
    assert event.data["outbid"] == [bids[1].pk, bids[0].pk]
    assert overbooked_offerings() == []


def test_uniform_price_is_the_highest_losing_bid(owner):
    offer = offer_for(owner, rule="uniform")
    bids = [bid(factories.renter(), offer, a) for a in ["0.15", "0.25", "0.35", "0.45", "0.55", "0.65"]]
    clear()
    assert states(bids) == [
        ("outbid", None),
        ("outbid", None),
        ("confirmed", 25),
        ("confirmed", 25),
        ("confirmed", 25),
        ("confirmed", 25),
    ]
    assert AuctionRound.objects.get().clearing_price == 25


def test_uniform_price_without_a_loser_is_the_reserve(owner):
    offer = offer_for(owner, rule="uniform")
    bids = [bid(factories.renter(), offer, a) for a in ["0.50", "0.90"]]
    clear()
    assert states(bids) == [("confirmed", 10), ("confirmed", 10)]


def test_equal_bids_go_to_higher_priority_then_earlier_arrival(owner):
    offer = offer_for(owner)
    renters = [factories.renter() for _ in range(6)]
    RenterSettings.objects.create(user=renters[5], priority_tier=RenterSettings.Priority.GOLD)
    RenterSettings.objects.create(user=renters[4], priority_tier=RenterSettings.Priority.SILVER)
    bids = [bid(r, offer, "0.50") for r in renters]
    clear()
    # Gold (last to arrive) and Silver win first; then the two earliest standard bidders.
    assert [s for s, _ in states(bids)] == ["confirmed", "confirmed", "outbid", "outbid", "confirmed", "confirmed"]


def test_price_per_resource_second_ranks_bids_across_profiles(owner):
    offer = factories.auction_offering(owner, reserve=10, closes=600)
    factories.price(
        owner,
        offer,
        profile="Medium",
        model="auction",
        reserve_price=10,
        bidding_closes_seconds=600,
        clearing_rule="pay_as_bid",
    )
    # A Medium takes twice a Small. Capacity: 4 Smalls or 2 Mediums (bandwidth).
    small = [bid(factories.renter(), offer, "0.30") for _ in range(3)]
    medium = services.booking_request(
        actor=factories.renter(), slice_id=factories.slice_id(offer, T10, 600, "Medium"), bid="0.50"
    )  # 0.25 per Small-equivalent: below the Smalls' 0.30
    clear()
    assert [s for s, _ in states(small)] == ["confirmed"] * 3
    assert Booking.objects.get(pk=medium.pk).state == "outbid"  # only one Small's worth was left


def test_clearing_respects_existing_claims(owner):
    offer = offer_for(owner)
    profile = offer.pricing_policies.get().profile
    for _ in range(3):
        Booking.objects.create(
            renter=factories.renter(),
            offering=offer,
            profile=profile,
            pricing_model="fixed",
            state="confirmed",
            starts_at=T10 - timedelta(minutes=5),
            ends_at=T10 + timedelta(minutes=1),
            vcpus=1,
            ram_mib=2048,
            disk_gb=20,
            bandwidth_mbps=250,
            grid_seconds=60,
            currency="USD",
        )
    bids = [bid(factories.renter(), offer, a) for a in ["0.20", "0.30"]]
    clear()
    assert [s for s, _ in states(bids)] == ["outbid", "confirmed"]
    assert overbooked_offerings() == []


def test_clearing_is_idempotent(owner):
    offer = offer_for(owner)
    bids = [bid(factories.renter(), offer, a) for a in ["0.20", "0.30"]]
    first = clear()
    events = DomainEvent.objects.count()
    second = clear()
    assert (first.rounds, second.rounds, second.bids) == (1, 0, 0)
    assert states(bids) == [("confirmed", 20), ("confirmed", 30)]
    assert DomainEvent.objects.count() == events


def test_rounds_not_yet_closed_are_left_alone(owner):
    offer = offer_for(owner)
    b = bid(factories.renter(), offer, "0.20")
    assert services.auctions_clear_due().rounds == 0
    assert Booking.objects.get(pk=b.pk).state == "requested"


def test_raise_must_be_higher_and_keeps_one_bid(owner, renter):
    offer = offer_for(owner)
    first = bid(renter, offer, "0.20")
    with pytest.raises(ValidationFailed) as exc:
        bid(renter, offer, "0.20")
    assert exc.value.errors == {"bid": ["A raise must be higher than your current bid of 0.20 USD."]}
    raised = bid(renter, offer, "0.35")
    assert raised.pk == first.pk
    assert Booking.objects.get(pk=first.pk).bid_amount == 35
    assert Booking.objects.filter(renter=renter).count() == 1


def test_withdraw_before_close_then_not_after(owner, renter):
    offer = offer_for(owner)
    b = bid(renter, offer, "0.20")
    withdrawn = services.booking_release(actor=renter, booking_id=b.pk)
    assert (withdrawn.state, withdrawn.reason) == ("released", "Bid withdrawn by the renter.")
    again = bid(renter, offer, "0.25")
    with time_machine.travel(AFTER_CLOSE, tick=False), pytest.raises(BiddingClosed):
        services.booking_release(actor=renter, booking_id=again.pk)
    assert Booking.objects.get(pk=again.pk).state == "requested"


def test_bid_rules(owner, renter):
    offer = offer_for(owner)
    with pytest.raises(ValidationFailed) as exc:
        bid(renter, offer, "0.05")
    assert exc.value.errors == {"bid": ["The bid is below the reserve price of 0.10 USD."]}
    with pytest.raises(ValidationFailed) as exc:
        bid(renter, offer, None)
    assert "send a bid" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        bid(renter, offer, "0.123")
    assert "decimal places" in exc.value.message
    with pytest.raises(ValidationFailed):
        services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600), bid="0.50", duration=300)
    with time_machine.travel(AFTER_CLOSE, tick=False), pytest.raises(BiddingClosed):
        bid(renter, offer, "0.50")
    assert not Booking.objects.exists()
