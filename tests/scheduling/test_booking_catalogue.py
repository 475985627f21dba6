"""Booking keeps the catalogue entries it has read per process and lets the booking function check
their version (scheduling/sql/booking_request.sql). These tests change the catalogue between two bookings in
every way that matters to a purchase and check that the second one follows the change at once, writes
nothing twice, and that a kept entry saves the catalogue read."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import DomainEvent
from marketplace.lib.errors import DomainError
from owners import services as owner_services
from scheduling import catalogue, services
from scheduling.errors import OfferingNotSelling
from scheduling.models import Booking, PriceHistory
from tests import factories
from tests.market_fixtures import commit_elsewhere

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def book(renter, offer, start=T10, length=60, slice_id=None):  # type: ignore[no-untyped-def]
    return services.booking_request(actor=renter, slice_id=slice_id or factories.slice_id(offer, start, length))


def events(booking: Booking) -> list[str]:
    return list(
        DomainEvent.objects.filter(target_id=str(booking.pk), verb__startswith="booking.")
        .order_by("id")
        .values_list("verb", flat=True)
    )


def test_a_kept_entry_saves_the_catalogue_read(renter, offer):
    first, second = (factories.slice_id(offer, T10 + timedelta(minutes=m), 60) for m in (0, 5))
    with CaptureQueriesContext(connection) as queries:
        book(renter, offer, slice_id=first)
    assert "FROM owners_offering o" in queries[0]["sql"]  # the catalogue entry is read first
    with CaptureQueriesContext(connection) as queries:
        booking = book(renter, offer, slice_id=second)
    assert booking.state == "confirmed"
    assert len(queries) == 1, [q["sql"][:80] for q in queries]  # the booking function alone
    assert "scheduling_booking_request" in queries[0]["sql"]


def test_a_new_price_applies_to_the_very_next_booking(renter, owner, offer):
    first = book(renter, offer)
    factories.price(owner, offer, price_per_unit=30)
    second = book(renter, offer, start=T10 + timedelta(minutes=5), length=120)
    assert (first.unit_price, second.unit_price, second.total_price) == (25, 30, 60)
    assert Booking.objects.filter(pk=second.pk).values_list("unit_price", flat=True).get() == 30
    assert Booking.objects.count() == 2  # the stale attempt wrote nothing
    assert events(second) == ["booking.requested", "booking.confirmed"]
    assert list(PriceHistory.objects.order_by("id").values_list("unit_price", flat=True)) == [25, 30]


def test_a_paused_offering_sells_nothing_at_once(renter, owner, offer):
    book(renter, offer)
    owner_services.offering_set_status(actor=owner, offering=offer, status="paused")
    with pytest.raises(OfferingNotSelling):
        book(renter, offer, start=T10 + timedelta(minutes=5))
    assert Booking.objects.count() == 1


def test_a_narrower_window_refuses_and_a_wider_one_sells_at_once(renter, owner, offer):
    """The kept entry is checked both ways: a slice it would sell but the owner has closed is refused,
    and a slice it would refuse but the owner has opened is sold."""
    book(renter, offer, start=T10 + timedelta(hours=2))  # no windows yet: open all day
    window = factories.window(owner, offer, time(11, 0), time(18, 0))  # offering time zone is UTC
    with pytest.raises(DomainError, match="outside its availability windows"):
        book(renter, offer)  # 10:00
    book(renter, offer, start=T10 + timedelta(hours=3))  # 13:00 is open: the entry is kept again
    owner_services.window_remove(actor=owner, window=window)
    assert book(renter, offer).state == "confirmed"  # 10:00, refused by the kept entry, sold by a fresh one
    assert list(Booking.objects.order_by("id").values_list("state", flat=True)) == ["confirmed"] * 3


def test_a_refusal_by_a_kept_entry_is_checked_afresh_before_it_is_final(renter, owner, offer):
    """A longer maximum length, raised since the entry was kept, is honoured."""
    book(renter, offer)
    max_length = offer.max_length_seconds
    owner_services.offering_update(actor=owner, offering=offer, max_length_seconds=max_length * 2)
    booking = book(renter, offer, start=T10 + timedelta(hours=1), length=max_length * 2)
    assert booking.ends_at - booking.starts_at == timedelta(seconds=max_length * 2)


def test_a_price_change_rolled_back_is_not_used(renter, owner, offer):
    with pytest.raises(RuntimeError), transaction.atomic():
        factories.price(owner, offer, price_per_unit=99)
        assert book(renter, offer).unit_price == 99  # the writer sees its own change; the entry is kept
        raise RuntimeError("roll back")
    assert book(renter, offer, start=T10 + timedelta(minutes=5)).unit_price == 25
    assert Booking.objects.count() == 1


def test_a_dynamic_price_follows_a_new_policy_at_once(renter, owner):
    """Dynamic prices take the other path (decided in Python after the function): checked the same way."""
    offer = factories.dynamic_offering(owner, base=100, floor=50, cap=300)
    first = book(renter, offer)
    factories.price(owner, offer, model="dynamic", base_price=200, floor_price=50, cap_price=300)
    second = book(renter, offer, start=T10 + timedelta(hours=1))
    assert second.unit_price == 2 * first.unit_price
    assert Booking.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_by_another_connection_applies_at_once(renter, offer):
    """Another process changes the price in raw SQL, bypassing every Python path."""
    assert book(renter, offer).unit_price == 25
    policy_id = offer.pricing_policies.get().pk

    commit_elsewhere("UPDATE owners_pricingpolicy SET price_per_unit = 45 WHERE id = %s", [policy_id])
    assert book(renter, offer, start=T10 + timedelta(minutes=5)).unit_price == 45


def test_a_catalogue_that_keeps_changing_cannot_fail_a_request(renter, offer, monkeypatch):
    """Every checked attempt finds the catalogue changed: the third, unchecked, books, once."""
    real = catalogue.entry
    calls: list[bool] = []

    def always_outdated(offering_id, profile_id, *, cached=False):  # type: ignore[no-untyped-def]
        calls.append(cached)
        offering, policy, weekly, _version = real(offering_id, profile_id, cached=cached)
        return offering, policy, weekly, -1  # never the database's version

    monkeypatch.setattr(catalogue, "entry", always_outdated)
    booking = book(renter, offer)
    assert calls == [True, False, False]
    assert booking.state == "confirmed"
    assert Booking.objects.count() == 1
    assert events(booking) == ["booking.requested", "booking.confirmed"]
