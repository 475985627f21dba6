"""The hooks that have no receiver in this project yet (on_booking_notice, on_bid_won, on_bid_lost)
are extension points for renter webhooks and notifications: each fires after commit, once, with
the booking's id (and the price paid, for a win), when its event happens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from scheduling import hooks, services
from scheduling.models import Booking
from tests import factories

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
AFTER_CLOSE = T10 - timedelta(minutes=5)  # bidding closes 10 minutes before the start


def test_on_booking_notice_fires_when_notice_is_given(owner, renter, django_capture_on_commit_callbacks):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    noticed: list[int] = []
    hooks.on_booking_notice(noticed.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=60)
            assert noticed == []  # after commit, not before
    finally:
        hooks.unregister("on_booking_notice", noticed.append)
    assert noticed == [booking.pk]


def test_on_bid_won_and_on_bid_lost_fire_at_clearing(owner, django_capture_on_commit_callbacks):
    offer = factories.auction_offering(owner, reserve=10, rule="uniform", closes=600)  # four Smalls fit
    renters = [factories.renter() for _ in range(5)]
    bids = [
        services.booking_request(actor=r, slice_id=factories.slice_id(offer, T10, 600), bid=amount)
        for r, amount in zip(renters, ["0.10", "0.20", "0.30", "0.40", "0.50"], strict=True)
    ]
    won: list[tuple[int, int]] = []
    lost: list[int] = []

    @hooks.on_bid_won
    def winner(booking_id: int, clearing_price: int) -> None:
        won.append((booking_id, clearing_price))

    hooks.on_bid_lost(lost.append)
    try:
        with time_machine.travel(AFTER_CLOSE, tick=False), django_capture_on_commit_callbacks(execute=True):
            assert services.auctions_clear_due().winners == 4
    finally:
        hooks.unregister("on_bid_won", winner)
        hooks.unregister("on_bid_lost", lost.append)
    # Uniform price: the highest losing bid (0.10) for every winner; the lowest bid lost.
    assert sorted(won) == sorted((b.pk, 10) for b in bids[1:])
    assert lost == [bids[0].pk]
    assert Booking.objects.get(pk=bids[0].pk).state == "outbid"
