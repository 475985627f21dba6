"""Facts the market needs later are kept on the booking as the engine acts (not read back from the
audit log): when notice was given and how long, and the latest profile change until it is undone.
Migration 0012 fills them for older bookings from the audit events; it must give the same values."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps

from audit.models import DomainEvent
from owners.models import SliceProfile
from scheduling import services
from scheduling.models import Booking
from tests import factories

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
backfill = importlib.import_module("scheduling.migrations.0012_booking_notice_facts").backfill
FACTS = ("notice_given_at", "notice_seconds", "profile_change")


def facts(booking: Booking) -> tuple:
    row = Booking.objects.get(pk=booking.pk)
    return tuple(getattr(row, f) for f in FACTS)


def refill() -> None:
    """As the migration found old bookings: no facts on the row, only the audit events."""
    Booking.objects.update(notice_given_at=None, notice_seconds=None, profile_change=None)
    backfill(apps, None)


def offer_and_booking(owner, renter):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    factories.price(owner, offer, profile="Medium", price_per_unit=300)
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    return offer, booking


def test_notice_is_kept_on_the_booking_and_backfilled_alike(owner, renter):
    _, booking = offer_and_booking(owner, renter)
    at = T10 - timedelta(minutes=5)
    with time_machine.travel(at, tick=False):
        services.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=30)
    kept = facts(booking)
    assert kept == (at, 30, None)
    assert Booking.objects.get(pk=booking.pk).preempt_deadline == at + timedelta(seconds=30)
    refill()
    assert facts(booking) == kept


def test_a_profile_change_is_kept_until_undone_and_backfilled_alike(owner, renter):
    _, booking = offer_and_booking(owner, renter)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    with time_machine.travel(T10 - timedelta(minutes=5), tick=False):
        services.booking_change_profile(actor=renter, booking_id=booking.pk, profile_id=medium.pk)
    change = facts(booking)[2]
    assert change["to"]["profile"] == medium.pk and change["from"]["profile"] == booking.profile_id
    assert change["from"]["total_price"] == 1000 and change["to"]["total_price"] == 3000
    refill()
    assert facts(booking)[2] == change

    undone = services.booking_profile_change_undo(actor=None, booking_id=booking.pk, reason="resize refused")
    assert undone is not None and undone.profile_id == booking.profile_id
    changed_event = DomainEvent.objects.get(verb="booking.profile_changed", target_id=str(booking.pk))
    undo_event = DomainEvent.objects.get(verb="booking.profile_change_undone", target_id=str(booking.pk))
    assert change["event"] == changed_event.pk == undo_event.data["undoes"]
    assert facts(booking) == (None, None, None)
    refill()
    assert facts(booking) == (None, None, None)  # the latest price event is the undo: nothing to undo
    assert services.booking_profile_change_undo(actor=None, booking_id=booking.pk, reason="again") is None
