"""Two workers clearing the same due rounds at the same moment produce one result, not two."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from audit.models import DomainEvent
from notifications.models import Notification
from scheduling import services
from scheduling.models import AuctionRound, Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_two_workers_clear_at_once_and_the_outcome_is_single(owner, notified):
    offers = [factories.auction_offering(owner, reserve=10, closes=600) for _ in range(6)]
    renters = [factories.renter() for _ in range(8)]
    for offer in offers:
        for i, r in enumerate(renters):
            services.booking_request(actor=r, slice_id=factories.slice_id(offer, T10, 600), bid=f"0.{10 + i}")

    barrier = threading.Barrier(2)
    results: list = [None, None]

    def worker(i: int) -> None:
        try:
            with time_machine.travel(T10 - timedelta(minutes=5), tick=True):
                barrier.wait()
                results[i] = services.auctions_clear_due()
        except Exception as exc:  # noqa: BLE001
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, services.ClearingResult) for r in results), results
    assert sum(r.rounds for r in results) == 6
    assert sum(r.winners for r in results) == 24
    assert AuctionRound.objects.filter(state="cleared").count() == 6
    assert DomainEvent.objects.filter(verb="auction.cleared").count() == 6
    assert Booking.objects.filter(state="confirmed").count() == 24
    assert Booking.objects.filter(state="outbid").count() == 24
    assert Notification.objects.filter(kind="bid_outbid").count() == 24
    # The four highest bids won everywhere, each paying its bid.
    assert sorted(set(Booking.objects.filter(state="confirmed").values_list("unit_price", flat=True))) == [
        14,
        15,
        16,
        17,
    ]
    assert overbooked_offerings() == []
