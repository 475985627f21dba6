"""Changing a live booking's profile: the claim moves under the offering's capacity, the rest of the
booking is repriced (the used part keeps its price), and billing holds and charges exactly that."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from audit.models import DomainEvent
from marketplace.lib.errors import (
    DomainError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from owners.models import SliceProfile
from scheduling import services
from scheduling.errors import SliceTaken
from scheduling.models import Booking, PriceHistory
from scheduling.services import PricePeriod
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def profile(name: str) -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name=name)


def fixed_offer(owner, **kwargs):  # type: ignore[no-untyped-def]
    """Small at 1.00 and Medium at 3.00 per one-minute grid unit."""
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, **kwargs)
    factories.price(owner, offer, profile="Medium", price_per_unit=300)
    return offer


def book(renter, offer, name="Small", capture=None):  # type: ignore[no-untyped-def]
    """A ten-minute booking from T10, running from its start."""
    slice_id = factories.slice_id(offer, T10, 600, profile=name)
    if capture is None:
        booking = services.booking_request(actor=renter, slice_id=slice_id)
    else:
        with capture(execute=True):
            booking = services.booking_request(actor=renter, slice_id=slice_id)
    with time_machine.travel(T10, tick=False):
        return services.booking_transition(actor=None, booking=booking, to="running")


def change(actor, booking, name, at):  # type: ignore[no-untyped-def]
    with time_machine.travel(at, tick=False):
        return services.booking_change_profile(actor=actor, booking_id=booking.pk, profile_id=profile(name).pk)


def snapshot(booking):  # type: ignore[no-untyped-def]
    row = Booking.objects.get(pk=booking.pk)
    return (row.state, row.profile.name, row.vcpus, row.ram_mib, row.bandwidth_mbps, row.unit_price, row.total_price)


def test_growing_reprices_the_rest_and_the_used_part_keeps_its_price(owner, renter):
    offer = fixed_offer(owner)
    booking = book(renter, offer)
    assert booking.total_price == 1000

    changed = change(renter, booking, "Medium", T10 + 4 * MIN)

    # 4 minutes used at 1.00 (400), the 6 left at 3.00 (1800).
    assert snapshot(changed) == ("running", "Medium", 2, 4096, 500, 300, 2200)
    assert services.price_schedule(Booking.objects.get(pk=booking.pk)) == [
        PricePeriod(T10, T10 + 4 * MIN, 100, 400),
        PricePeriod(T10 + 4 * MIN, T10 + 10 * MIN, 300, 1800),
    ]
    assert PriceHistory.objects.filter(profile=profile("Medium"), unit_price=300).count() == 1
    # The schedule is kept on the booking itself (billing charges from it), not only in the audit log.
    assert [p["amount"] for p in Booking.objects.get(pk=booking.pk).price_schedule] == [400, 1800]


def test_shrinking_lowers_the_price_of_the_rest_only(owner, renter):
    offer = fixed_offer(owner)
    booking = book(renter, offer, "Medium")
    assert booking.total_price == 3000

    changed = change(renter, booking, "Small", T10 + 6 * MIN)

    # 6 minutes used at 3.00 (1800), the 4 left at 1.00 (400).
    assert snapshot(changed) == ("running", "Small", 1, 2048, 250, 100, 2200)


def test_two_changes_keep_each_part_at_the_price_it_was_used_at(owner, renter):
    offer = fixed_offer(owner)
    booking = book(renter, offer)
    change(renter, booking, "Medium", T10 + 4 * MIN)
    changed = change(renter, booking, "Small", T10 + 7 * MIN)
    assert snapshot(changed) == ("running", "Small", 1, 2048, 250, 100, 400 + 900 + 300)
    assert [p.amount for p in services.price_schedule(changed)] == [400, 900, 300]


def test_before_the_start_the_whole_booking_takes_the_new_price(owner, renter):
    offer = fixed_offer(owner)
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    changed = change(renter, booking, "Medium", T10 - 30 * MIN)
    assert snapshot(changed) == ("confirmed", "Medium", 2, 4096, 500, 300, 3000)
    assert services.price_schedule(changed) == [PricePeriod(T10, T10 + 10 * MIN, 300, 3000)]


def test_dynamic_booking_changes_at_todays_dynamic_price(owner, renter):
    curve = [[0, 1.0], [50, 1.5], [100, 3.0]]
    offer = factories.dynamic_offering(owner, base=100, floor=50, cap=1000, curve=curve)
    factories.price(
        owner,
        offer,
        profile="Medium",
        model="dynamic",
        base_price=200,
        floor_price=50,
        cap_price=1000,
        surge_curve=curve,
    )
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    assert booking.unit_price == 100  # alone on the offering: no surge
    services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(offer, T10, 600))
    # The others' use is a quarter of the bandwidth: surge 1.25, Medium at 2.00 × 1.25.
    changed = change(renter, booking, "Medium", T10 - 30 * MIN)
    assert (changed.unit_price, changed.total_price) == (250, 2500)


def test_refused_when_the_offering_has_no_room_and_nothing_changes(owner, renter):
    offer = fixed_offer(owner, bandwidth_mbps=500)  # two Smalls, or one Medium
    booking = book(renter, offer)
    book(factories.renter(), offer)
    before = snapshot(booking)
    history = PriceHistory.objects.count()

    with pytest.raises(SliceTaken) as exc:
        change(renter, booking, "Medium", T10 + 4 * MIN)

    assert exc.value.status_code == 409
    assert exc.value.message == (
        "The offering has no capacity left for the Medium profile during your booking "
        "(until 2026-12-01 10:10:00 UTC); it keeps its Small profile."
    )
    assert snapshot(booking) == before
    assert not DomainEvent.objects.filter(verb="booking.profile_changed").exists()
    assert PriceHistory.objects.count() == history
    assert overbooked_offerings() == []


def test_only_the_renter_or_staff_may_change(owner, renter, staff):
    offer = fixed_offer(owner)
    booking = book(renter, offer)
    with pytest.raises(NotFoundError):
        change(factories.renter(), booking, "Medium", T10 + MIN)
    with pytest.raises(PermissionDeniedError) as exc:
        change(owner, booking, "Medium", T10 + MIN)
    assert exc.value.status_code == 403
    assert snapshot(booking)[1] == "Small"
    assert snapshot(change(staff, booking, "Medium", T10 + MIN))[1] == "Medium"


def test_refused_under_notice_or_once_ended(owner, renter):
    offer = fixed_offer(owner)
    noticed = book(renter, offer)
    with time_machine.travel(T10 + MIN, tick=False):
        services.booking_preempt(actor=owner, booking=noticed, notice_seconds=120)
    with pytest.raises(InvalidTransition, match="under a preemption notice"):
        change(renter, noticed, "Medium", T10 + 2 * MIN)
    released = book(renter, offer)
    with time_machine.travel(T10 + MIN, tick=False):
        services.booking_release(actor=renter, booking_id=released.pk)
    with pytest.raises(InvalidTransition, match="released cannot change profile") as exc:
        change(renter, released, "Medium", T10 + 2 * MIN)
    assert exc.value.status_code == 409
    assert [snapshot(b)[1] for b in (noticed, released)] == ["Small", "Small"]


def test_refused_for_auction_bookings_unsold_profiles_and_other_pricing_models(owner, renter):
    auction = factories.auction_offering(owner, reserve=10, closes=600)
    factories.price(
        owner,
        auction,
        profile="Medium",
        model="auction",
        reserve_price=10,
        bidding_closes_seconds=600,
        clearing_rule="pay_as_bid",
    )
    won = services.booking_request(actor=renter, slice_id=factories.slice_id(auction, T10, 600), bid="0.50")
    with time_machine.travel(T10 - 5 * MIN, tick=False):
        services.auctions_clear_due()
    with pytest.raises(DomainError, match="An auction booking cannot change profile") as exc:
        change(renter, won, "Medium", T10 + MIN)
    assert exc.value.status_code == 400

    offer = fixed_offer(owner)
    booking = book(renter, offer)
    with pytest.raises(ValidationFailed, match="does not sell that profile"):
        change(renter, booking, "Large", T10 + MIN)
    factories.price(owner, offer, profile="Micro", model="dynamic", base_price=50, floor_price=10, cap_price=100)
    with pytest.raises(ValidationFailed, match="can only change to a profile sold the same way"):
        change(renter, booking, "Micro", T10 + MIN)
    with pytest.raises(ValidationFailed, match="already has this profile"):
        change(renter, booking, "Small", T10 + MIN)
    assert snapshot(booking)[1] == "Small" and Booking.objects.get(pk=won.pk).profile.name == "Small"


def test_one_audit_event_names_who_what_and_the_prices(owner, renter):
    offer = fixed_offer(owner)
    booking = book(renter, offer)
    change(renter, booking, "Medium", T10 + 4 * MIN)
    (event,) = DomainEvent.objects.filter(verb="booking.profile_changed", target_id=str(booking.pk))
    assert event.actor_id == renter.pk
    small, medium = profile("Small"), profile("Medium")
    assert event.data["from"] == {
        "profile": small.pk,
        "vcpus": 1,
        "ram_mib": 2048,
        "disk_gb": 20,
        "bandwidth_mbps": 250,
        "unit_price": 100,
        "total_price": 1000,
    }
    assert event.data["to"] == {
        "profile": medium.pk,
        "vcpus": 2,
        "ram_mib": 4096,
        "disk_gb": 40,
        "bandwidth_mbps": 500,
        "unit_price": 300,
        "total_price": 2200,
    }
    assert (event.data["at"], event.data["extra"]) == ((T10 + 4 * MIN).isoformat(), 1200)


# ---- billing holds and charges the repriced booking ---------------------------------------------------


@pytest.fixture
def billing(settings):  # type: ignore[no-untyped-def]
    from billing import integration

    settings.BILLING_MODE = "prepaid"
    settings.BILLING_FUNDS_CHECK = True
    settings.PLATFORM_FEE_PERCENT = "10"
    integration.register_with_engine()  # billing's real receivers, into the test's isolated registry


def test_billing_raises_the_hold_then_charges_each_part_at_its_price(
    owner, renter, billing, django_capture_on_commit_callbacks
):
    from billing import ledger
    from billing.models import BookingCharge

    offer = fixed_offer(owner)
    factories.fund_renter(renter, 5000)
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    assert BookingCharge.objects.get(booking_id=booking.pk).price == 1000

    with django_capture_on_commit_callbacks(execute=True):
        change(renter, booking, "Medium", T10 + 4 * MIN)
    assert BookingCharge.objects.get(booking_id=booking.pk).price == 2200
    assert ledger.balance_of("renter_balance", "USD", renter) == 2800
    assert ledger.balance_of("renter_holds", "USD", renter) == 2200

    with time_machine.travel(T10 + 7 * MIN, tick=False), django_capture_on_commit_callbacks(execute=True):
        services.booking_release(actor=renter, booking_id=booking.pk)

    # Released after 7 minutes: 4 at 1.00 (400) and 3 at 3.00 (900); not 7/10 of 2200 (1540).
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.state, charge.charged_amount, charge.used_seconds) == ("settled", 1300, 420)
    assert ledger.balance_of("renter_balance", "USD", renter) == 5000 - 1300
    assert ledger.balance_of("renter_holds", "USD", renter) == 0
    assert ledger.unbalanced_transactions() == []


def test_billing_refuses_a_rise_the_balance_cannot_cover_and_nothing_changes(
    owner, renter, billing, django_capture_on_commit_callbacks
):
    from billing import ledger
    from billing.services import InsufficientFunds

    offer = fixed_offer(owner)
    factories.fund_renter(renter, 1500)
    booking = book(renter, offer, capture=django_capture_on_commit_callbacks)
    before = snapshot(booking)
    with pytest.raises(InsufficientFunds, match="Your balance is 5.00 USD; this booking needs 12.00 USD"):
        change(renter, booking, "Medium", T10 + 4 * MIN)
    assert snapshot(booking) == before
    assert ledger.balance_of("renter_holds", "USD", renter) == 1000


def test_billing_releases_part_of_the_hold_when_shrinking(owner, renter, billing, django_capture_on_commit_callbacks):
    from billing import ledger

    offer = fixed_offer(owner)
    factories.fund_renter(renter, 5000)
    booking = book(renter, offer, "Medium", capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        change(renter, booking, "Small", T10 + 6 * MIN)
    assert ledger.balance_of("renter_holds", "USD", renter) == 2200
    assert ledger.balance_of("renter_balance", "USD", renter) == 2800
    with time_machine.travel(T10 + 10 * MIN, tick=False), django_capture_on_commit_callbacks(execute=True):
        services.booking_transition(actor=None, booking=Booking.objects.get(pk=booking.pk), to="completed")
    assert ledger.balance_of("renter_balance", "USD", renter) == 5000 - 2200
    assert ledger.balance_of("renter_holds", "USD", renter) == 0


# ---- two renters racing for the last room ------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_two_renters_racing_to_grow_into_the_last_room_one_wins():
    owner = factories.owner()
    offer = fixed_offer(owner, bandwidth_mbps=750)  # two Smalls leave room for one of them to become Medium
    renters = [factories.renter() for _ in range(2)]
    bookings = [book(r, offer) for r in renters]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def grow(i: int) -> None:
        try:
            barrier.wait()
            results[i] = services.booking_change_profile(
                actor=renters[i], booking_id=bookings[i].pk, profile_id=profile("Medium").pk
            )
        except Exception as exc:  # noqa: BLE001 - each outcome is inspected below
            results[i] = exc
        finally:
            connection.close()

    with time_machine.travel(T10 + 4 * MIN, tick=True):
        threads = [threading.Thread(target=grow, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

    winners = [r for r in results if isinstance(r, Booking)]
    losers = [r for r in results if isinstance(r, SliceTaken)]
    assert (len(winners), len(losers)) == (1, 1), results
    assert sorted(snapshot(b)[1] for b in bookings) == ["Medium", "Small"]
    assert DomainEvent.objects.filter(verb="booking.profile_changed").count() == 1
    assert overbooked_offerings() == []
