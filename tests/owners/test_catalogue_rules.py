"""Every invalid catalogue combination is refused with a message that says what is wrong, and nothing is saved."""

from __future__ import annotations

from datetime import time

import pytest

from marketplace.lib.errors import ConflictError, PermissionDeniedError, ValidationFailed
from owners import services
from owners.models import AvailabilityWindow, Offering, PricingPolicy, SliceProfile
from tests import factories

pytestmark = pytest.mark.django_db


def test_predefined_profiles_exist():
    names = list(SliceProfile.objects.filter(owner=None).values_list("name", flat=True))
    assert sorted(names) == ["Large", "Medium", "Micro", "Small"]


def test_profile_larger_than_offering_is_refused(owner):
    offer = factories.offering(owner, vcpus=2, ram_mib=4096)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, profile="Large")
    assert exc.value.errors["profile"] == ["The profile Large is larger than the offering in: vCPU, RAM."]
    assert not PricingPolicy.objects.filter(offering=offer).exists()


def test_zero_length_window_is_refused(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.window(owner, offer, time(9), time(9))
    assert "zero length" in exc.value.message
    assert not AvailabilityWindow.objects.filter(offering=offer).exists()


def test_window_needs_a_weekday(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        services.window_add(actor=owner, offering=offer, weekdays=[], start_time=time(9), end_time=time(17))
    assert "at least one weekday" in exc.value.message


def test_request_length_not_multiple_of_grid_is_refused(owner):
    with pytest.raises(ValidationFailed) as exc:
        factories.offering(owner, grid_seconds=60, min_length_seconds=90)
    assert exc.value.errors["min_length_seconds"] == [
        "The shortest request (90 s) is not a multiple of the 60-second grid."
    ]
    assert not Offering.objects.exists()


@pytest.mark.parametrize("grid", [4, 3601, 0])
def test_grid_outside_5s_to_1h_is_refused(owner, grid):
    with pytest.raises(ValidationFailed) as exc:
        factories.offering(owner, grid_seconds=grid, min_length_seconds=3600, max_length_seconds=7200)
    assert "grid_seconds" in exc.value.errors


def test_longest_shorter_than_shortest_is_refused(owner):
    with pytest.raises(ValidationFailed) as exc:
        factories.offering(owner, grid_seconds=60, min_length_seconds=600, max_length_seconds=300)
    assert "The longest request cannot be shorter than the shortest one." in str(exc.value.errors)


def test_dynamic_floor_above_cap_is_refused(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, model="dynamic", base_price=10, floor_price=50, cap_price=20)
    # Issue 12 point 9: money in a message is in major units with its currency (it said "(50)", "(20)").
    assert exc.value.errors["floor_price"] == ["The floor (0.50 USD) is above the cap (0.20 USD)."]


def test_dynamic_base_outside_bounds_is_refused(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, model="dynamic", base_price=100, floor_price=5, cap_price=20)
    assert "between the floor and the cap" in exc.value.errors["base_price"][0]


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ([[50, 1.0], [10, 2.0]], "rising utilisation"),
        ([[0, -1]], "must be positive"),
        ([[120, 1.0]], "outside 0-100"),
        ("steep", "must be a list"),
    ],
)
def test_bad_surge_curve_is_refused(owner, curve, message):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, model="dynamic", base_price=10, floor_price=5, cap_price=20, surge_curve=curve)
    assert message in exc.value.errors["surge_curve"][0]


def test_auction_needs_reserve_close_and_rule(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, model="auction")
    assert set(exc.value.errors) == {"reserve_price", "bidding_closes_seconds", "clearing_rule"}


def test_fixed_price_must_be_positive(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, model="fixed", price_per_unit=0)
    assert exc.value.errors["price_per_unit"] == ["A fixed price must be greater than zero."]


def test_switching_model_clears_other_models_fields(owner):
    offer = factories.offering(owner)
    factories.price(owner, offer, model="fixed", price_per_unit=7)
    policy = factories.price(
        owner, offer, model="auction", reserve_price=3, bidding_closes_seconds=60, clearing_rule="uniform"
    )
    policy.refresh_from_db()
    assert (policy.model, policy.price_per_unit, policy.reserve_price) == ("auction", None, 3)


def test_publishing_needs_a_price_and_retired_is_final(owner):
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        services.offering_set_status(actor=owner, offering=offer, status="published")
    assert "Add a price" in exc.value.message
    factories.price(owner, offer)
    services.offering_set_status(actor=owner, offering=offer, status="published")
    services.offering_set_status(actor=owner, offering=offer, status="retired")
    with pytest.raises(ConflictError, match="retired cannot become published"):
        services.offering_set_status(actor=owner, offering=offer, status="published")
    offer.refresh_from_db()
    assert offer.status == "retired"


def test_shrinking_an_offering_below_a_priced_profile_is_refused(owner):
    offer = factories.offering(owner, vcpus=8, ram_mib=16384)
    factories.price(owner, offer, profile="Large")
    with pytest.raises(ValidationFailed) as exc:
        services.offering_update(actor=owner, offering=offer, vcpus=2)
    assert "Large (vCPU)" in exc.value.message
    offer.refresh_from_db()
    assert offer.vcpus == 8


def test_offering_on_someone_elses_cloud_is_refused(owner, other_owner):
    theirs = factories.cloud(other_owner)
    with pytest.raises(PermissionDeniedError):
        factories.offering(owner, on=theirs)
    assert not Offering.objects.exists()


def test_renter_cannot_create_clouds(renter):
    with pytest.raises(PermissionDeniedError):
        factories.cloud(renter)


def test_custom_profile_and_duplicate_name(owner):
    services.profile_create(
        actor=owner,
        name="GPU-less big",
        vcpus=12,
        ram_mib=49152,
        disk_gb=100,
        bandwidth_mbps=1000,
        flavor_name="c12.m48",
    )
    with pytest.raises(ValidationFailed) as exc:
        services.profile_create(actor=owner, name="GPU-less big", vcpus=1, ram_mib=1024, flavor_name="x")
    assert "already exists" in exc.value.message
    assert SliceProfile.objects.filter(owner=owner).count() == 1


def test_other_owners_custom_profile_cannot_be_priced(owner, other_owner):
    theirs = services.profile_create(actor=other_owner, name="theirs", vcpus=1, ram_mib=1024, flavor_name="x")
    offer = factories.offering(owner)
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, offer, profile=theirs)
    assert exc.value.errors["profile"] == ["That profile belongs to another owner."]
