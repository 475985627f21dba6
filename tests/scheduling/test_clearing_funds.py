"""Auction clearing asks the funds check of every would-be winner: a refused win takes no capacity,
the next bid gets it, and the refused renter is told why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audit.models import DomainEvent
from billing.models import BookingCharge, LedgerTransaction
from marketplace.lib.errors import DomainError
from notifications.models import Notification
from scheduling import hooks, services
from scheduling.models import AuctionRound, Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
AFTER_CLOSE = T10 - timedelta(minutes=5)  # bidding closes 10 minutes before the start


class Budget:
    """A funds check that lets each renter spend up to a budget (minor units), and notes what it was asked."""

    def __init__(self) -> None:
        self.limits: dict[int, int] = {}
        self.asked: list[tuple[int, int]] = []

    def __call__(self, renter, offering, profile, amount, currency):  # type: ignore[no-untyped-def]
        self.asked.append((renter.pk, amount))
        limit = self.limits.get(renter.pk)
        if limit is not None and amount > limit:
            raise DomainError(f"Your budget is {limit}; this needs {amount}.")


@pytest.fixture
def budget():  # type: ignore[no-untyped-def]
    check = Budget()
    hooks.register("funds_check", check)
    yield check
    hooks.unregister("funds_check", check)


def bid(renter, offer, amount, start=T10, length=600):  # type: ignore[no-untyped-def]
    return services.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length), bid=amount)


def clear(capture=None):  # type: ignore[no-untyped-def]
    with time_machine.travel(AFTER_CLOSE, tick=False):
        if capture is None:
            return services.auctions_clear_due()
        with capture(execute=True):
            return services.auctions_clear_due()


def outcome(bookings):  # type: ignore[no-untyped-def]
    rows = {b.pk: b for b in Booking.objects.filter(pk__in=[b.pk for b in bookings])}
    return [(rows[b.pk].state, rows[b.pk].unit_price) for b in bookings]


def test_a_refused_winner_takes_no_capacity_and_the_next_bid_wins(owner, budget, django_capture_on_commit_callbacks):
    offer = factories.auction_offering(owner, reserve=10, rule="pay_as_bid", closes=600)  # four Smalls fit
    renters = [factories.renter() for _ in range(5)]
    bids = [bid(r, offer, a) for r, a in zip(renters, ["0.10", "0.20", "0.30", "0.40", "0.50"], strict=True)]
    budget.limits[renters[4].pk] = 100  # the highest bid (500 for ten minutes) cannot be paid
    budget.asked.clear()  # (each bid was checked when placed, too)
    lost: list[int] = []
    hooks.register("on_bid_lost", lost.append)
    try:
        result = clear(django_capture_on_commit_callbacks)
    finally:
        hooks.unregister("on_bid_lost", lost.append)

    assert (result.rounds, result.bids, result.winners) == (1, 5, 4)
    # The lowest bid, outbid without the refusal, takes the freed capacity and pays its own bid.
    assert outcome(bids) == [
        ("confirmed", 10),
        ("confirmed", 20),
        ("confirmed", 30),
        ("confirmed", 40),
        ("rejected", None),
    ]
    refused = Booking.objects.get(pk=bids[4].pk)
    assert refused.reason == (
        "Refused at clearing: Your budget is 100; this needs 500. The capacity went to the next bid."
    )
    # Each winner was asked with exactly what it pays: its bid for ten one-minute units.
    assert budget.asked == [
        (renters[4].pk, 500),
        (renters[3].pk, 400),
        (renters[2].pk, 300),
        (renters[1].pk, 200),
        (renters[0].pk, 100),
    ]
    rnd = AuctionRound.objects.get()
    assert (rnd.state, rnd.winners_count, rnd.bids_count, rnd.clearing_price) == ("cleared", 4, 5, 10)
    assert lost == [bids[4].pk]
    assert overbooked_offerings() == []


def test_the_refused_renter_is_told_why_and_the_refusal_is_audited(owner, budget, notified):
    offer = factories.auction_offering(owner, reserve=10, closes=600, bandwidth_mbps=250)  # one Small fits
    poor, next_best = factories.renter(), factories.renter()
    mine = bid(poor, offer, "0.90")
    theirs = bid(next_best, offer, "0.15")
    budget.limits[poor.pk] = 0
    clear()

    assert outcome([mine, theirs]) == [("rejected", None), ("confirmed", 15)]
    (note,) = Notification.objects.filter(user=poor)
    assert note.booking_id == mine.pk and note.kind == "bid_refused"
    assert note.body.startswith(f"Your bid of 0.90 USD per grid unit won {offer.name} (")
    assert note.body.endswith(
        "could not be confirmed. Refused at clearing: Your budget is 0; this needs 900. The capacity went to the next bid."
    )
    # The next bid, served the capacity, hears only that it won.
    assert list(Notification.objects.filter(user=next_best).values_list("kind", flat=True)) == ["bid_won"]
    event = DomainEvent.objects.get(verb="booking.rejected", target_id=str(mine.pk))
    assert event.data["from"] == "requested" and event.data["to"] == "rejected"
    assert "Your budget is 0" in event.data["reason"]
    cleared = DomainEvent.objects.get(verb="auction.cleared")
    assert cleared.data["confirmed"] == [[theirs.pk, 15]]
    assert cleared.data["rejected"] == [[mine.pk, "Your budget is 0; this needs 900."]]
    assert cleared.data["outbid"] == []


def test_uniform_price_is_computed_as_if_the_refused_bid_had_never_been_placed(owner, budget):
    offer = factories.auction_offering(owner, reserve=10, rule="uniform", closes=600)  # four Smalls fit
    renters = [factories.renter() for _ in range(6)]
    bids = [bid(r, offer, a) for r, a in zip(renters, ["0.15", "0.25", "0.35", "0.45", "0.55", "0.65"], strict=True)]
    budget.limits[renters[5].pk] = 0
    budget.asked.clear()
    clear()

    # Without the refusal: 35..65 win at 25 (the highest loser). With 65 out, 25 wins and 15 sets the price.
    assert outcome(bids) == [
        ("outbid", None),
        ("confirmed", 15),
        ("confirmed", 15),
        ("confirmed", 15),
        ("confirmed", 15),
        ("rejected", None),
    ]
    assert AuctionRound.objects.get().clearing_price == 15
    assert Booking.objects.get(pk=bids[1].pk).total_price == 150
    # Rank order: the top bid was asked at the first pass's price (25 × 10), refused; the next pass
    # asked the new winners at the price they pay (15 × 10).
    assert budget.asked == [
        (renters[5].pk, 250),
        (renters[4].pk, 150),
        (renters[3].pk, 150),
        (renters[2].pk, 150),
        (renters[1].pk, 150),
    ]


def test_one_budget_does_not_pay_for_two_wins_in_one_clearing(owner, budget):
    first = factories.auction_offering(owner, reserve=10, closes=600, bandwidth_mbps=250)
    second = factories.auction_offering(owner, reserve=10, closes=600, bandwidth_mbps=250)
    both, other = factories.renter(), factories.renter()
    a = bid(both, first, "0.60")
    b = bid(both, second, "0.60")
    c = bid(other, second, "0.20")
    budget.limits[both.pk] = 1000  # one win (600) fits, two (1200) do not
    clear()

    assert outcome([a, b, c]) == [("confirmed", 60), ("rejected", None), ("confirmed", 20)]
    assert "this needs 1200" in Booking.objects.get(pk=b.pk).reason


def test_without_a_funds_check_clearing_asks_nobody_and_serves_by_rank(owner):
    offer = factories.auction_offering(owner, reserve=10, closes=600, bandwidth_mbps=250)
    top, low = factories.renter(), factories.renter()
    bids = [bid(top, offer, "0.50"), bid(low, offer, "0.20")]
    assert hooks.receivers("funds_check") == []
    clear()
    assert outcome(bids) == [("confirmed", 50), ("outbid", None)]


def test_with_billing_a_prepaid_balance_too_small_loses_the_win_and_nothing_is_posted(
    owner, settings, django_capture_on_commit_callbacks, notified
):
    from billing import integration

    settings.BILLING_MODE = "prepaid"
    settings.BILLING_FUNDS_CHECK = True
    integration.register_with_engine()  # into the test's isolated registry: billing's real receivers
    auction = factories.auction_offering(owner, reserve=10, closes=600, bandwidth_mbps=250)  # one Small fits
    shop = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 50})
    spender, saver = factories.renter(), factories.renter()
    factories.fund_renter(spender, 600)
    factories.fund_renter(saver, 1000)
    high = bid(spender, auction, "0.60")  # 600 for ten minutes: affordable when placed
    low = bid(saver, auction, "0.30")
    with django_capture_on_commit_callbacks(execute=True):  # then the balance is spent on a fixed slice
        services.booking_request(actor=spender, slice_id=factories.slice_id(shop, T10 + timedelta(hours=2), 600))
    assert BookingCharge.objects.filter(renter=spender).get().price == 500

    clear(django_capture_on_commit_callbacks)

    assert outcome([high, low]) == [("rejected", None), ("confirmed", 30)]
    reason = Booking.objects.get(pk=high.pk).reason
    assert "Your balance is 1.00 USD; this booking needs 6.00 USD" in reason
    assert Notification.objects.get(user=spender, booking_id=high.pk).body.endswith(
        "The capacity went to the next bid."
    )
    # Billing held the winner's price; nothing was held, charged or refunded for the refused bid.
    assert not LedgerTransaction.objects.filter(booking_id=high.pk).exists()
    assert not BookingCharge.objects.filter(booking_id=high.pk).exists()
    hold = LedgerTransaction.objects.get(booking_id=low.pk)
    assert (hold.kind, BookingCharge.objects.get(booking_id=low.pk).price) == ("hold", 300)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_two_workers_with_billing_never_confirm_more_than_a_renter_can_pay(settings):
    """Two workers clear one offering per transaction, from different ends, with billing's real funds
    check: each renter's wins, whichever worker confirmed them, stay within their balance."""
    import threading

    from django.db import connection
    from django.db.models import Sum

    from billing import integration

    settings.BILLING_MODE = "prepaid"
    settings.BILLING_FUNDS_CHECK = True
    integration.register_with_engine()
    owner = factories.owner()
    offers = [factories.auction_offering(owner, reserve=10, closes=600) for _ in range(6)]  # four Smalls each
    renters = [factories.renter() for _ in range(8)]
    for r in renters:
        factories.fund_renter(r, 1000)
    for offer in offers:
        for i, r in enumerate(renters):
            bid(r, offer, f"0.{10 + i}")  # renter i pays 1.00 + 0.10 i per win

    barrier = threading.Barrier(2)
    results: list = [None, None]

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = services.auctions_clear_due(batch=1, worker=(i, 2))
        except Exception as exc:  # noqa: BLE001
            results[i] = exc
        finally:
            connection.close()

    with time_machine.travel(AFTER_CLOSE, tick=True):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    assert all(isinstance(r, services.ClearingResult) for r in results), results
    assert sum(r.rounds for r in results) == 6 and sum(r.winners for r in results) == 24
    assert AuctionRound.objects.filter(state="cleared").count() == 6
    # The top bidder's six wins (6 × 1.70) exceed its 10.00: exactly one is refused, a lower bid takes it.
    top = Booking.objects.filter(renter=renters[7])
    assert sorted(top.values_list("state", flat=True)) == ["confirmed"] * 5 + ["rejected"]
    for r in renters:
        won = Booking.objects.filter(renter=r, state="confirmed").aggregate(s=Sum("total_price"))["s"] or 0
        assert won <= 1000, (r.pk, won)
    assert Booking.objects.filter(state="confirmed").count() == 24
    assert overbooked_offerings() == []
