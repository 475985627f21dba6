"""Changing a live booking (its profile, its end) while others buy on the same offering: the change
locks only the booking's row, so nobody deadlocks.

A FOR UPDATE over the booking joined with its profile also locked the profile's row; every purchase
of that profile takes KEY SHARE on it through the foreign key while holding the offering's lock, and
the change then waited for that offering lock: PostgreSQL broke the cycle by killing purchases (a 500
for each) until the change committed. Found by tests/concurrency/test_extend_race.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from owners.models import SliceProfile
from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BUYERS = 8


@pytest.mark.parametrize("change", ["profile", "extend"])
def test_a_live_change_and_purchases_of_the_same_profile_all_go_through(change):
    owner = factories.owner()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    factories.price(owner, offer, profile="Medium", price_per_unit=300)
    renter = factories.renter()
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    buyers = [factories.renter() for _ in range(BUYERS)]
    medium = SliceProfile.objects.get(owner=None, name="Medium").pk
    barrier = threading.Barrier(BUYERS + 1)
    results: list = [None] * (BUYERS + 1)

    def run(i: int) -> None:
        try:
            barrier.wait()
            if i == 0 and change == "profile":
                results[i] = services.booking_change_profile(actor=renter, booking_id=booking.pk, profile_id=medium)
            elif i == 0:
                results[i] = services.booking_extend(actor=renter, booking_id=booking.pk, seconds=300).booking
            else:
                sid = factories.slice_id(offer, T10 + timedelta(minutes=i), 60)
                results[i] = services.booking_request(actor=buyers[i - 1], slice_id=sid)
        except Exception as exc:  # noqa: BLE001 - every outcome is inspected below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(BUYERS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    # Everything fits (a Medium and one Small at any instant): everyone gets what they asked for.
    assert all(isinstance(r, Booking) for r in results), results
    assert Booking.objects.filter(offering=offer, state="confirmed").count() == BUYERS + 1
    assert overbooked_offerings() == []
