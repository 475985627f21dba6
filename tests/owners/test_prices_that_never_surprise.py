"""Issue 12, the owner's side: one currency per offering (the database refuses a second), a price
change shown old and new before it is made, a grid change that keeps the price per second, prices
per hour beside prices per unit, operator maxima in the owner's words, and destructive actions
that act only once confirmed. Refused input changes nothing and the form keeps what was typed."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from marketplace.lib import clock
from marketplace.lib.errors import ValidationFailed
from marketplace.lib.money import rate_for_seconds
from owners import services
from owners.models import AvailabilityWindow, Cloud, Offering, PricingPolicy, SliceProfile
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


def profile(name: str) -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name=name)


@pytest.fixture
def eur(owner):  # type: ignore[no-untyped-def]
    """A 1-minute-grid offering whose Small costs 0.03 EUR per minute."""
    offer = factories.offering(owner, name="Berlin", grid_seconds=60)
    factories.price(owner, offer, currency="EUR", price_per_unit=3)
    return offer


def _prices(offer: Offering) -> list[tuple]:
    return list(
        PricingPolicy.objects.filter(offering=offer)
        .order_by("pk")
        .values_list("profile__name", "currency", "price_per_unit", "model")
    )


# ---- one currency per offering --------------------------------------------------------------------


def test_the_database_refuses_a_second_currency_on_one_offering(eur):
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        PricingPolicy.objects.create(
            offering=eur, profile=profile("Micro"), model="fixed", currency="USD", price_per_unit=5
        )
    assert "owners_pricingpolicy_one_currency" in str(exc.value)
    assert _prices(eur) == [("Small", "EUR", 3, "fixed")]


def test_the_service_names_the_offerings_currency_on_the_currency_field(owner, eur):
    with pytest.raises(ValidationFailed) as exc:
        factories.price(owner, eur, profile="Micro", currency="USD", price_per_unit=5)
    assert exc.value.errors["currency"] == [
        "This offering's prices are in EUR: a price on it must be in EUR too (one currency per offering)."
    ]
    # The only price may still change its currency (nothing else is priced in the old one).
    assert factories.price(owner, eur, profile="Micro", currency="EUR", price_per_unit=5).currency == "EUR"
    assert _prices(eur) == [("Small", "EUR", 3, "fixed"), ("Micro", "EUR", 5, "fixed")]


def test_add_a_price_in_another_currency_shows_why_and_keeps_the_typed_price(owner, eur):
    client = login(owner)
    page = client.get(reverse("owners:pricing_create", args=[eur.pk])).content.decode()
    assert '<option value="EUR" selected>' in page  # a new price starts in the offering's currency
    response = client.post(
        reverse("owners:pricing_create", args=[eur.pk]),
        {
            "profile": profile("Micro").pk,
            "model": "fixed",
            "currency": "USD",
            "price_per_unit": "0.05",
            "release_charge": "prorated",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "This offering&#x27;s prices are in EUR: a price on it must be in EUR too" in page
    assert 'value="0.05"' in page
    assert _prices(eur) == [("Small", "EUR", 3, "fixed")]


# ---- a price change is an explicit edit -------------------------------------------------------------


def test_a_price_change_shows_old_and_new_and_acts_only_when_confirmed(owner, renter, eur):
    from scheduling import services as market

    services.offering_set_status(actor=owner, offering=eur, status="published")
    factories.fund_renter(renter, 1000, "EUR")
    start = clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    booked = market.booking_request(actor=renter, slice_id=factories.slice_id(eur, start, 600))
    assert (booked.total_price, booked.currency) == (30, "EUR")
    policy = PricingPolicy.objects.get(offering=eur)
    client = login(owner)
    url = reverse("owners:pricing_edit", args=[eur.pk, policy.pk])
    typed = {
        "profile": profile("Small").pk,
        "model": "fixed",
        "currency": "EUR",
        "price_per_unit": "0.05",
        "release_charge": "prorated",
    }
    page = client.post(url, typed).content.decode()
    assert "Change the price of Small on Berlin?" in page
    assert "Now: Fixed price 0.03 EUR per 1 min (1.80 EUR per hour)" in page
    assert "New: Fixed price 0.05 EUR per 1 min (3.00 EUR per hour)" in page
    assert "Bookings already made keep the price they were made at" in page
    assert 'name="price_per_unit" value="0.05"' in page  # confirming sends what was typed
    assert _prices(eur) == [("Small", "EUR", 3, "fixed")]
    response = client.post(url, typed | {"confirm": "yes"})
    assert response.status_code == 302
    assert _prices(eur) == [("Small", "EUR", 5, "fixed")]
    from scheduling.models import Booking

    assert Booking.objects.get(pk=booked.pk).total_price == 30  # the booking kept its price


def test_add_a_price_for_an_already_priced_profile_is_a_change_too(owner, eur):
    response = login(owner).post(
        reverse("owners:pricing_create", args=[eur.pk]),
        {
            "profile": profile("Small").pk,
            "model": "fixed",
            "currency": "EUR",
            "price_per_unit": "0.05",
            "release_charge": "prorated",
        },
    )
    assert "Now: Fixed price 0.03 EUR per 1 min" in response.content.decode()
    assert _prices(eur) == [("Small", "EUR", 3, "fixed")]


# ---- grid changes keep the price per second -----------------------------------------------------------


def test_rate_for_seconds_rounds_half_up_in_one_place():
    assert rate_for_seconds(2, 60, 300) == 10
    assert rate_for_seconds(3, 60, 30) == 2  # 1.5 rounds up
    assert rate_for_seconds(2, 60, 3600) == 120


def test_a_grid_change_restates_prices_per_new_unit(owner):
    offer = factories.offering(owner, name="Grid", grid_seconds=60, min_length_seconds=300, max_length_seconds=3600)
    factories.price(owner, offer, currency="EUR", price_per_unit=2)
    response = login(owner).post(
        reverse("owners:offering_edit", args=[offer.pk]),
        {
            "cloud": offer.cloud_id,
            "name": "Grid",
            "region": offer.region,
            "vcpus": 16,
            "ram_mib": 65536,
            "disk_gb": 500,
            "bandwidth_mbps": 1000,
            "grid_seconds": 300,
            "min_length_seconds": 300,
            "max_length_seconds": 3600,
            "timezone": "UTC",
            "preemption_notice_seconds": 120,
        },
        follow=True,
    )
    assert Offering.objects.get(pk=offer.pk).grid_seconds == 300
    assert _prices(offer) == [("Small", "EUR", 10, "fixed")]  # 0.02 per min -> 0.10 per 5 min
    page = response.content.decode()
    assert "same price per second" in page
    assert (
        "Fixed price 0.02 EUR per 1 min (1.20 EUR per hour) → Fixed price 0.10 EUR per 5 min (1.20 EUR per hour)"
        in (page)
    )


def test_a_grid_change_that_would_round_a_price_to_nothing_asks_for_a_new_price(owner):
    offer = factories.offering(owner, grid_seconds=60, min_length_seconds=60)
    factories.price(owner, offer, currency="EUR", price_per_unit=2)
    with pytest.raises(ValidationFailed) as exc:
        services.offering_update(actor=owner, offering=offer, grid_seconds=5)
    assert exc.value.errors["grid_seconds"] == [
        "Small: 0.02 EUR per 1 min would be 0.00 EUR per 5 s once rounded; set a new price for it first, "
        "or choose a longer grid."
    ]
    assert Offering.objects.get(pk=offer.pk).grid_seconds == 60
    assert _prices(offer) == [("Small", "EUR", 2, "fixed")]


def test_prices_are_shown_per_hour_beside_per_unit(owner, eur):
    client = login(owner)
    detail = client.get(reverse("owners:offering_detail", args=[eur.pk])).content.decode()
    assert "0.03 EUR per 1 min" in detail and "1.80 EUR per hour" in detail
    policy = PricingPolicy.objects.get(offering=eur)
    form = client.get(reverse("owners:pricing_edit", args=[eur.pk, policy.pk])).content.decode()
    assert "Per grid unit of 1 min" in form and "× 60 = the price per hour" in form
    assert "Now 0.03 EUR per 1 min = 1.80 EUR per hour." in form


# ---- operator maxima, in the owner's words ------------------------------------------------------------


def test_a_price_above_the_operators_maximum_per_hour_is_refused_in_words(owner, eur, settings):
    settings.MARKETPLACE_PRICE_MAX_PER_HOUR = {"EUR": "1000"}
    response = login(owner).post(
        reverse("owners:pricing_create", args=[eur.pk]),
        {
            "profile": profile("Micro").pk,
            "model": "fixed",
            "currency": "EUR",
            "price_per_unit": "100",
            "release_charge": "prorated",
        },
    )
    page = response.content.decode()
    assert (
        "Fixed price per grid unit: 100.00 EUR per 1 min is 6,000.00 EUR per hour; "
        "the market allows at most 1,000.00 EUR per hour." in page
    )
    assert 'value="100"' in page
    assert _prices(eur) == [("Small", "EUR", 3, "fixed")]


def test_capacity_and_notice_above_the_operators_maxima_are_refused_in_words(owner, settings):
    settings.MARKETPLACE_OFFERING_MAX_VCPUS = 4096
    settings.MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS = 86400
    cloud = factories.cloud(owner)
    response = login(owner).post(
        reverse("owners:offering_create"),
        {
            "cloud": cloud.pk,
            "name": "huge",
            "vcpus": 99999,
            "ram_mib": 1024,
            "disk_gb": 1,
            "bandwidth_mbps": 1,
            "grid_seconds": 60,
            "min_length_seconds": 60,
            "max_length_seconds": 60,
            "timezone": "UTC",
            "preemption_notice_seconds": 100000,
        },
    )
    page = response.content.decode()
    assert "vCPU capacity can be at most 4,096." in page
    assert "The notice before preemption can be at most 24 h (86,400 s)." in page
    assert 'value="99999"' in page and 'value="100000"' in page
    assert not Offering.objects.filter(name="huge").exists()


# ---- destructive actions ask first --------------------------------------------------------------------


def test_removing_a_window_says_which_and_acts_only_when_confirmed(owner, eur):
    win = factories.window(owner, eur, time(8), time(18), weekdays=[0, 1])
    factories.window(owner, eur, time(20), time(22), weekdays=[5])
    client = login(owner)
    url = reverse("owners:window_remove", args=[eur.pk, win.pk])
    page = client.post(url).content.decode()
    assert "Remove the window Mon,Tue 08:00-18:00 (UTC) from Berlin?" in page
    assert "Bookings already made are kept." in page
    assert AvailabilityWindow.objects.filter(pk=win.pk).exists()
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    assert not AvailabilityWindow.objects.filter(pk=win.pk).exists()


def test_removing_the_last_window_says_the_offering_is_then_sold_at_all_hours(owner, eur):
    win = factories.window(owner, eur, time(8), time(18))
    page = login(owner).post(reverse("owners:window_remove", args=[eur.pk, win.pk])).content.decode()
    assert "without windows it is sold at all hours" in page
    assert AvailabilityWindow.objects.filter(pk=win.pk).exists()


def test_removing_a_price_deleting_a_cloud_and_retiring_ask_first(owner, eur):
    client = login(owner)
    policy = PricingPolicy.objects.get(offering=eur)
    page = client.post(reverse("owners:pricing_delete", args=[eur.pk, policy.pk])).content.decode()
    assert "Remove the price of Small on Berlin?" in page and "Now: Fixed price 0.03 EUR per 1 min" in page
    page = client.post(reverse("owners:offering_status", args=[eur.pk]), {"status": "retired"}).content.decode()
    assert "Retire Berlin?" in page and "Retiring is final" in page
    spare = factories.cloud(owner, name="spare")
    page = client.post(reverse("owners:cloud_delete", args=[spare.pk])).content.decode()
    assert "Delete the cloud spare?" in page
    assert _prices(eur) == [("Small", "EUR", 3, "fixed")]
    assert Offering.objects.get(pk=eur.pk).status == "draft"
    assert Cloud.objects.filter(pk=spare.pk).exists()
    # Confirmed, each acts.
    client.post(reverse("owners:pricing_delete", args=[eur.pk, policy.pk]), {"confirm": "yes"})
    client.post(reverse("owners:offering_status", args=[eur.pk]), {"status": "retired", "confirm": "yes"})
    client.post(reverse("owners:cloud_delete", args=[spare.pk]), {"confirm": "yes"})
    assert _prices(eur) == []
    assert Offering.objects.get(pk=eur.pk).status == "retired"
    assert not Cloud.objects.filter(pk=spare.pk).exists()


def test_the_admin_cannot_change_a_priced_offerings_grid_behind_its_prices(owner, eur):
    from django.forms.models import model_to_dict

    from owners.admin import OfferingAdminForm

    data = model_to_dict(eur) | {"allowed_images": ",".join(eur.allowed_images), "grid_seconds": 300}
    data |= {"min_length_seconds": 300, "max_length_seconds": 7200}
    form = OfferingAdminForm(data=data, instance=eur)
    assert not form.is_valid()
    assert form.errors["grid_seconds"] == [
        "This offering's prices are per grid unit: change its grid in the owner portal, "
        "which restates them for the new grid at the same price per second."
    ]
    assert Offering.objects.get(pk=eur.pk).grid_seconds == 60


def test_the_admin_lists_prices_in_major_units_with_their_currency(eur, staff):
    page = login(staff).get("/admin/owners/pricingpolicy/").content.decode()
    assert "Fixed price 0.03 EUR per 1 min (1.80 EUR per hour)" in page
