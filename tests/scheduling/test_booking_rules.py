"""Requests for slices: the owner's rules are enforced, capacity is respected, refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from audit.models import DomainEvent
from marketplace.lib.errors import (
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from owners import services as owner_services
from scheduling import hooks, services
from scheduling.errors import OfferingNotSelling, SliceTaken
from scheduling.models import Booking, PriceHistory
from scheduling.slices import SliceKey, decode_slice_id
from tests import factories

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday, in the future


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    # 16 vCPU, 64 GiB, 500 GB, 1000 Mbit/s; Small = 1 vCPU, 2 GiB, 20 GB, 250 Mbit/s -> 4 Smalls at once.
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def request(renter, offer, start=T10, length=60, **kwargs):  # type: ignore[no-untyped-def]
    return services.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length), **kwargs)


def test_fixed_price_is_confirmed_at_once_with_its_price_and_audited(renter, offer):
    booking = request(renter, offer, length=180)
    assert booking.state == "confirmed"
    assert (booking.unit_price, booking.total_price, booking.currency) == (25, 75, "USD")
    assert (booking.starts_at, booking.ends_at) == (T10, T10 + timedelta(minutes=3))
    assert (booking.vcpus, booking.ram_mib, booking.disk_gb, booking.bandwidth_mbps) == (1, 2048, 20, 250)
    assert booking.image == "ubuntu-24.04"
    verbs = list(
        DomainEvent.objects.filter(target_id=str(booking.pk), verb__startswith="booking.")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == ["booking.requested", "booking.confirmed"]
    assert list(PriceHistory.objects.values_list("unit_price", "source")) == [(25, "fixed")]


def test_fifth_overlapping_small_is_rejected_and_stays_visible_with_its_reason(renter, offer):
    for i in range(4):
        request(renter, offer, start=T10 + timedelta(minutes=i), length=600)
    with pytest.raises(SliceTaken) as exc:
        request(renter, offer, start=T10 + timedelta(minutes=5), length=60)
    assert exc.value.status_code == 409
    rejected = Booking.objects.get(pk=exc.value.extra["booking"])
    assert rejected.state == "rejected"
    assert rejected.reason.startswith("Taken")
    assert Booking.objects.filter(state="confirmed").count() == 4
    # Adjacent, not overlapping: half-open intervals leave [T10+10min, ...) free for one more at T10+10.
    assert request(renter, offer, start=T10 + timedelta(minutes=10), length=60).state == "confirmed"


def test_duration_must_be_a_multiple_of_the_grid(renter, offer):
    with pytest.raises(ValidationFailed) as exc:
        request(renter, offer, duration=90)
    assert exc.value.errors == {
        "duration": ["The duration must be a positive multiple of the offering's 60-second grid."]
    }
    assert not Booking.objects.exists()


@pytest.mark.parametrize("duration", [60 * 121, 0, -60])
def test_duration_outside_min_max_is_refused(renter, offer, duration):
    with pytest.raises(ValidationFailed):
        request(renter, offer, duration=duration)
    assert not Booking.objects.exists()


def test_min_length_is_enforced(owner, renter):
    offer = factories.offering(owner, publish=True, min_length_seconds=300)
    with pytest.raises(ValidationFailed) as exc:
        request(renter, offer, length=60)
    assert "300 to 7200 seconds" in exc.value.message
    assert not Booking.objects.exists()


def test_only_within_availability_windows(owner, renter):
    offer = factories.offering(owner, publish=True)
    factories.window(owner, offer, time(9), time(10, 30))
    assert request(renter, offer, start=T10, length=1800).state == "confirmed"  # 10:00-10:30 fits
    with pytest.raises(DomainError) as exc:
        request(renter, offer, start=T10 + timedelta(minutes=20), length=1200)  # 10:20-10:40 crosses 10:30
    assert "availability windows" in exc.value.message
    assert Booking.objects.count() == 1


def test_only_allowed_images(renter, offer):
    with pytest.raises(ValidationFailed) as exc:
        request(renter, offer, image="windows-11")
    assert exc.value.errors == {"image": ["This offering allows only these images: ubuntu-24.04."]}
    assert request(renter, offer, image="ubuntu-24.04").image == "ubuntu-24.04"


def test_paused_offering_sells_nothing_new(owner, renter, offer):
    owner_services.offering_set_status(actor=owner, offering=offer, status="paused")
    with pytest.raises(OfferingNotSelling) as exc:
        request(renter, offer)
    assert exc.value.status_code == 409
    assert "paused" in exc.value.message
    assert not Booking.objects.exists()


def test_profile_without_a_price_on_that_offering_is_refused(renter, offer):
    with pytest.raises(DomainError) as exc:
        services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 60, profile="Medium"))
    assert exc.value.message == "This offering has no price for that profile."
    assert not Booking.objects.exists()


def test_tampered_slice_id_is_not_found(renter, offer, other_owner):
    good = factories.slice_id(offer, T10, 60)
    payload, sig = good.split(":", 1)
    other = factories.offering(other_owner, publish=True)
    forged_payload = factories.slice_id(other, T10, 60).split(":", 1)[0]
    for bad in (forged_payload + ":" + sig, good[:-2] + "xx", "garbage", ""):
        with pytest.raises(NotFoundError):
            services.booking_request(actor=renter, slice_id=bad)
    assert decode_slice_id(good) == SliceKey(
        offer.pk, offer.pricing_policies.get().profile_id, int(T10.timestamp()), 60
    )
    assert not Booking.objects.exists()


def test_slice_in_the_past_is_refused(renter, offer):
    with pytest.raises(ConflictError):
        request(renter, offer, start=datetime(2026, 11, 29, 10, tzinfo=UTC))


def test_owner_only_account_cannot_rent(owner, offer):
    with pytest.raises(PermissionDeniedError):
        request(owner, offer)


def test_bid_is_refused_for_a_fixed_price_slice(renter, offer):
    with pytest.raises(ValidationFailed) as exc:
        request(renter, offer, bid="0.50")
    assert "bid" in exc.value.errors
    assert not Booking.objects.exists()


def test_funds_check_hook_can_refuse_and_the_request_stays_rejected(renter, offer):
    def no_money(renter, offering, profile, amount, currency):  # type: ignore[no-untyped-def]
        assert (amount, currency) == (25, "USD")
        raise DomainError("Add a payment method before renting.")

    hooks.register("funds_check", no_money)
    try:
        with pytest.raises(DomainError) as exc:
            request(renter, offer)
    finally:
        hooks.unregister("funds_check", no_money)
    assert exc.value.message == "Add a payment method before renting."
    booking = Booking.objects.get()
    assert (booking.state, booking.reason) == ("rejected", "Add a payment method before renting.")


def test_confirmed_hook_fires_after_commit(renter, offer, django_capture_on_commit_callbacks):
    seen: list[int] = []
    hooks.register("on_booking_confirmed", seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            booking = request(renter, offer)
    finally:
        hooks.unregister("on_booking_confirmed", seen.append)
    assert seen == [booking.pk]


def test_peak_is_computed_by_postgres_over_start_points(renter, offer):
    request(renter, offer, start=T10, length=600)  # 10:00-10:10
    request(renter, offer, start=T10 + timedelta(minutes=5), length=600)  # 10:05-10:15
    request(renter, offer, start=T10 + timedelta(minutes=12), length=60)  # 10:12-10:13
    assert services.offering_peak(offer.pk, T10, T10 + timedelta(hours=1)) == [2, 4096, 40, 500]
    assert services.offering_peak(offer.pk, T10 + timedelta(minutes=10), T10 + timedelta(hours=1)) == [2, 4096, 40, 500]
    assert services.offering_peak(offer.pk, T10 + timedelta(minutes=15), T10 + timedelta(hours=1)) == [0, 0, 0, 0]
