"""Extending a booking in place: the end moves later when the capacity after it is free, within the
offering's windows and longest request, at the price in force; a 409 says the longest that can be
granted, and asking for that succeeds; billing holds and charges the longer booking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from audit.models import DomainEvent
from marketplace.lib.errors import InvalidTransition, NotFoundError, PermissionDeniedError, ValidationFailed
from owners.models import SliceProfile
from scheduling import services
from scheduling.errors import ExtensionUnavailable, NotExtendable
from scheduling.models import Booking, PriceHistory
from scheduling.services import PricePeriod
from tests import factories
from tests.concurrency.invariant import overbooked_offerings
from tests.conftest import login

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def one_small(owner, **kwargs):  # type: ignore[no-untyped-def]
    """Room for one Small at a time (bandwidth 250 of 250), 1.00 per one-minute grid unit."""
    kwargs = {"bandwidth_mbps": 250} | kwargs
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, **kwargs)


def book(renter, offer, start=T10, length=600):  # type: ignore[no-untyped-def]
    return services.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length))


def extend(renter, booking, seconds, **kwargs):  # type: ignore[no-untyped-def]
    return services.booking_extend(actor=renter, booking_id=booking.pk, seconds=seconds, **kwargs)


def row(booking):  # type: ignore[no-untyped-def]
    b = Booking.objects.get(pk=booking.pk)
    return (b.state, b.ends_at, b.unit_price, b.total_price)


# ---- price -----------------------------------------------------------------------------------------


def test_fixed_price_charges_the_listed_price_for_the_added_units_and_is_audited(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    assert booking.total_price == 1000

    ext = extend(renter, booking, 300)

    assert (ext.seconds, ext.units, ext.unit_price, ext.price) == (300, 5, 100, 500)
    assert row(booking) == ("confirmed", T10 + 15 * MIN, 100, 1500)
    # One price throughout: no schedule needed.
    assert Booking.objects.get(pk=booking.pk).price_schedule is None
    event = DomainEvent.objects.filter(verb="booking.extended", target_id=str(booking.pk)).get()
    assert event.actor_id == renter.pk
    assert event.data["from"]["ends_at"] == (T10 + 10 * MIN).isoformat()
    assert event.data["to"] == {"ends_at": (T10 + 15 * MIN).isoformat(), "unit_price": 100, "total_price": 1500}
    assert (event.data["seconds"], event.data["extra"]) == (300, 500)
    # The buy recorded the price; the extension at the same price records nothing (no change).
    assert PriceHistory.objects.filter(offering=offer, unit_price=100).count() == 1


def test_fixed_price_in_force_is_the_price_listed_now_and_the_schedule_keeps_both(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    factories.price(owner, offer, price_per_unit=150)  # the owner raised the price since

    extend(renter, booking, 300)

    assert row(booking) == ("confirmed", T10 + 15 * MIN, 150, 1750)
    assert services.price_schedule(Booking.objects.get(pk=booking.pk)) == [
        PricePeriod(T10, T10 + 10 * MIN, 100, 1000),
        PricePeriod(T10 + 10 * MIN, T10 + 15 * MIN, 150, 750),
    ]


def test_dynamic_price_is_a_fresh_price_for_the_added_period(owner, renter):
    # Base 1.00, x1.5 at 50 % use: a neighbour's Small over the added period uses 25 % -> x1.25.
    offer = factories.dynamic_offering(owner, base=100, floor=50, cap=300)
    booking = book(renter, offer)
    assert booking.unit_price == 100  # nothing else booked when it was bought
    book(factories.renter(), offer, start=T10 + 10 * MIN, length=600)

    ext = extend(renter, booking, 300)

    assert (ext.unit_price, ext.price) == (125, 625)
    assert row(booking) == ("confirmed", T10 + 15 * MIN, 125, 1625)
    assert services.price_schedule(Booking.objects.get(pk=booking.pk))[-1] == PricePeriod(
        T10 + 10 * MIN, T10 + 15 * MIN, 125, 625
    )
    assert PriceHistory.objects.filter(offering=offer, unit_price=125, source="dynamic").exists()


def test_auction_slices_are_refused_with_the_reason(owner, renter):
    offer = factories.auction_offering(owner, reserve=10, closes=600)
    bid = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600), bid="0.50")
    with time_machine.travel(T10 - 5 * MIN, tick=False):
        services.auctions_clear_due()
        won = Booking.objects.get(pk=bid.pk)
        assert won.state == "confirmed"
        with pytest.raises(NotExtendable, match="Auction slices cannot be extended: bid for the next round"):
            extend(renter, won, 300)
    assert Booking.objects.get(pk=bid.pk).ends_at == T10 + 10 * MIN


def test_a_fixed_booking_whose_profile_is_now_sold_by_auction_is_refused(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    factories.price(
        owner,
        offer,
        model="auction",
        price_per_unit=None,
        reserve_price=10,
        bidding_closes_seconds=60,
        clearing_rule="pay_as_bid",
    )
    with pytest.raises(NotExtendable, match="bid for the next round"):
        extend(renter, booking, 300)
    assert row(booking) == ("confirmed", T10 + 10 * MIN, 100, 1000)


# ---- rules -----------------------------------------------------------------------------------------


def test_longest_request_bounds_the_extension_and_409_says_how_far(owner, renter):
    offer = one_small(owner, max_length_seconds=900)
    booking = book(renter, offer)
    with pytest.raises(ExtensionUnavailable) as refused:
        extend(renter, booking, 600)
    assert refused.value.longest_seconds == 300
    assert refused.value.status_code == 409
    assert "sells at most 900 seconds at a time" in refused.value.message
    assert "at most 300 seconds" in refused.value.message
    assert row(booking) == ("confirmed", T10 + 10 * MIN, 100, 1000)
    extend(renter, booking, 300)
    assert row(booking)[1] == T10 + 15 * MIN


def test_availability_windows_bound_the_extension(owner, renter):
    offer = one_small(owner)
    factories.window(owner, offer, time(9, 0), time(10, 12))
    booking = book(renter, offer)
    with pytest.raises(ExtensionUnavailable) as refused:
        extend(renter, booking, 300)
    assert refused.value.longest_seconds == 120
    assert "availability windows close at 2026-12-01 10:12:00 UTC" in refused.value.message
    assert row(booking)[1] == T10 + 10 * MIN


def test_a_following_booking_blocks_part_then_the_longest_is_granted(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    book(factories.renter(), offer, start=T10 + 13 * MIN, length=300)

    with pytest.raises(ExtensionUnavailable) as refused:
        extend(renter, booking, 600)
    assert refused.value.longest_seconds == 180
    assert "capacity from 2026-12-01 10:13:00 UTC is taken" in refused.value.message
    assert row(booking) == ("confirmed", T10 + 10 * MIN, 100, 1000)

    extend(renter, booking, refused.value.longest_seconds)
    assert row(booking) == ("confirmed", T10 + 13 * MIN, 100, 1300)
    assert overbooked_offerings() == []
    # Now nothing more fits.
    with pytest.raises(ExtensionUnavailable) as again:
        extend(renter, booking, 60)
    assert again.value.longest_seconds == 0
    assert "cannot be extended now" in again.value.message


def test_notice_is_refused_and_says_why(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    with time_machine.travel(T10 + MIN, tick=False):
        services.booking_transition(actor=None, booking=booking, to="running")
        services.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=120)
        with pytest.raises(InvalidTransition, match="under a preemption notice"):
            extend(renter, booking, 60)


def test_running_is_extended_but_not_once_its_end_has_passed(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    with time_machine.travel(T10 + MIN, tick=False):
        services.booking_transition(actor=None, booking=booking, to="running")
        extend(renter, booking, 60)
    assert row(booking)[:2] == ("running", T10 + 11 * MIN)
    with time_machine.travel(T10 + 11 * MIN, tick=False), pytest.raises(InvalidTransition, match="over"):
        extend(renter, booking, 60)


def test_only_the_renter_extends(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    with pytest.raises(NotFoundError):
        extend(factories.renter(), booking, 60)
    with pytest.raises(PermissionDeniedError, match="Only the renter"):
        extend(owner, booking, 60)
    assert row(booking)[1] == T10 + 10 * MIN


@pytest.mark.parametrize("seconds", [0, -60, 90, 30, True, "60", 7260, 10**30, None])
def test_a_bad_length_is_refused_as_input(owner, renter, seconds):
    offer = one_small(owner)
    booking = book(renter, offer)
    with pytest.raises(ValidationFailed):
        extend(renter, booking, seconds)
    assert row(booking)[1] == T10 + 10 * MIN


def test_dry_run_prices_it_and_changes_nothing(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    ext = extend(renter, booking, 300, dry_run=True)
    assert ext.dry_run and (ext.price, ext.booking.ends_at) == (500, T10 + 15 * MIN)
    assert (ext.cost.action, ext.cost.price_before, ext.cost.price_after) == ("extend", 1000, 1500)
    assert row(booking) == ("confirmed", T10 + 10 * MIN, 100, 1000)
    assert not DomainEvent.objects.filter(verb="booking.extended").exists()


# ---- the API ---------------------------------------------------------------------------------------


def api(user):  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_extends_and_answers_the_booking_with_what_was_added(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    response = api(renter).post(f"/api/v1/timeslots/{booking.pk}/extend", {"duration": 300}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ends_at"] == "2026-12-01T10:15:00Z"
    assert (body["total_price"], body["duration"]) == ("15.00", 900)
    assert body["extension"] == {
        "seconds": 300,
        "units": 5,
        "unit_price": "1.00",
        "price": "5.00",
        "ends_at": "2026-12-01T10:15:00Z",
    }
    assert (body["cost"]["action"], body["cost"]["price_before"], body["cost"]["price_after"]) == (
        "extend",
        "10.00",
        "15.00",
    )


def test_api_preview_changes_nothing(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    response = api(renter).post(f"/api/v1/timeslots/{booking.pk}/extend?preview=1", {"duration": 300}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["preview"] is True and body["booking"] == booking.pk
    assert body["extension"]["price"] == "5.00"
    assert body["cost"]["price_after"] == "15.00"
    assert row(booking)[1] == T10 + 10 * MIN


def test_api_409_says_the_longest_and_asking_for_it_succeeds(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    book(factories.renter(), offer, start=T10 + 13 * MIN, length=300)
    client = api(renter)
    response = client.post(f"/api/v1/timeslots/{booking.pk}/extend", {"duration": 600}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["longest_seconds"]) == ("extension_unavailable", 180)
    assert "at most 180 seconds" in body["detail"]
    again = client.post(f"/api/v1/timeslots/{booking.pk}/extend", {"duration": body["longest_seconds"]}, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["ends_at"] == "2026-12-01T10:13:00Z"


def test_api_idempotency_key_extends_once(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    client = api(renter)
    url = f"/api/v1/timeslots/{booking.pk}/extend"
    first = client.post(url, {"duration": 60}, format="json", HTTP_IDEMPOTENCY_KEY="ext-1")
    second = client.post(url, {"duration": 60}, format="json", HTTP_IDEMPOTENCY_KEY="ext-1")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert row(booking)[1] == T10 + 11 * MIN


def test_api_permissions_and_auction(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    url = f"/api/v1/timeslots/{booking.pk}/extend"
    assert api(factories.renter()).post(url, {"duration": 60}, format="json").status_code == 404
    assert api(owner).post(url, {"duration": 60}, format="json").status_code == 403
    assert APIClient().post(url, {"duration": 60}, format="json").status_code in (401, 403)
    assert (
        api(renter)
        .post("/api/v1/timeslots/99999999999999999999999/extend", {"duration": 60}, format="json")
        .status_code
        == 404
    )
    assert api(renter).post(url, {"duration": 90}, format="json").json()["error"] == "invalid"
    assert row(booking)[1] == T10 + 10 * MIN


durations = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 59, 60, 61, 2**31 - 1, 2**31, 2**63, 10**20, 7200, 86400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.text(max_size=4).map(lambda s: s + "\x00" + s),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 600), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(duration=durations, as_form=st.booleans(), preview=st.booleans())
def test_api_no_input_gives_a_500(owner, renter, duration, as_form, preview):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    booking = book(renter, offer)
    client = api(renter)
    url = f"/api/v1/timeslots/{booking.pk}/extend" + ("?preview=1" if preview else "")
    if as_form:  # repeated and odd form values, as an HTML form or curl -d would send them
        values = duration if isinstance(duration, list) else [duration, duration]
        response = client.post(
            url, "&".join(f"duration={v}" for v in values), content_type="application/x-www-form-urlencoded"
        )
    else:
        try:
            payload = json.dumps({"duration": duration})
        except ValueError:
            return
        response = client.post(url, payload, content_type="application/json")
    assert response.status_code in (200, 400, 409), response.content
    assert response["Content-Type"].startswith("application/json")
    if response.status_code == 409:
        assert isinstance(response.json()["longest_seconds"], int)


# ---- the portal ------------------------------------------------------------------------------------


def test_portal_extends_and_offers_the_longest_as_one_click(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    book(factories.renter(), offer, start=T10 + 13 * MIN, length=300)
    client = login(renter)
    url = f"/market/bookings/{booking.pk}/extend"

    page = client.get("/market/bookings/")
    assert url in page.content.decode()
    form = client.get(url)
    assert form.status_code == 200 and "Extend booking" in form.content.decode()

    refused = client.post(url, {"duration": "10 min"})
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "at most 180 seconds" in html
    assert 'name="duration" value="180"' in html  # the longest, offered as a one-click choice
    assert row(booking)[1] == T10 + 10 * MIN

    preview = client.get(url, {"duration": "3 min"})
    assert "Extend: 3.00 USD more" in preview.content.decode() and "13.00 USD in all" in preview.content.decode()
    assert row(booking)[1] == T10 + 10 * MIN

    done = client.post(url, {"duration": "180"})
    assert done.status_code == 302
    assert row(booking) == ("confirmed", T10 + 13 * MIN, 100, 1300)


def test_portal_bad_input_is_a_form_error(owner, renter):
    offer = one_small(owner)
    booking = book(renter, offer)
    client = login(renter)
    url = f"/market/bookings/{booking.pk}/extend"
    for value in ("90", "-5", "x\x00", "9" * 40, ""):
        response = client.post(url, {"duration": value})
        assert response.status_code in (200, 400), value
        assert row(booking)[1] == T10 + 10 * MIN
    assert login(factories.renter()).get(url).status_code == 404


# ---- billing holds and charges the longer booking --------------------------------------------------


@pytest.fixture
def billing(settings):  # type: ignore[no-untyped-def]
    from billing import integration

    settings.BILLING_MODE = "prepaid"
    settings.BILLING_FUNDS_CHECK = True
    settings.PLATFORM_FEE_PERCENT = "10"
    integration.register_with_engine()


def test_billing_hold_follows_the_extension_and_the_charge_covers_it(
    owner, renter, billing, django_capture_on_commit_callbacks
):
    from billing import ledger
    from billing.models import BookingCharge

    offer = one_small(owner)
    factories.fund_renter(renter, 5000)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(renter, offer)
    assert BookingCharge.objects.get(booking_id=booking.pk).price == 1000

    preview = extend(renter, booking, 300, dry_run=True)
    assert preview.cost.charge == 1500  # billing's own computation, run to the new end
    assert BookingCharge.objects.get(booking_id=booking.pk).price == 1000

    with django_capture_on_commit_callbacks(execute=True):
        extend(renter, booking, 300)
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.price, charge.ends_at) == (1500, T10 + 15 * MIN)
    assert ledger.balance_of("renter_holds", "USD", renter) == 1500
    assert ledger.balance_of("renter_balance", "USD", renter) == 3500

    # Released after 12 of its 15 minutes: 12/15 of 1500, not all of it and not 10/10 of the old price.
    with time_machine.travel(T10 + 12 * MIN, tick=False), django_capture_on_commit_callbacks(execute=True):
        services.booking_release(actor=renter, booking_id=booking.pk)
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.state, charge.charged_amount, charge.used_seconds) == ("settled", 1200, 720)
    assert ledger.balance_of("renter_balance", "USD", renter) == 5000 - 1200
    assert ledger.balance_of("renter_holds", "USD", renter) == 0
    assert ledger.unbalanced_transactions() == []


def test_billing_refuses_an_extension_the_balance_cannot_cover(
    owner, renter, billing, django_capture_on_commit_callbacks
):
    from billing.services import InsufficientFunds

    offer = one_small(owner)
    factories.fund_renter(renter, 1200)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(renter, offer)
    with pytest.raises(InsufficientFunds):
        extend(renter, booking, 300)
    assert row(booking) == ("confirmed", T10 + 10 * MIN, 100, 1000)


def test_billing_sweep_moves_the_hold_when_the_hook_was_lost(
    owner, renter, billing, django_capture_on_commit_callbacks
):
    from billing import integration
    from billing.models import BookingCharge

    offer = one_small(owner)
    factories.fund_renter(renter, 5000)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(renter, offer)
    extend(renter, booking, 300)  # its after-commit hook never runs here: lost
    assert BookingCharge.objects.get(booking_id=booking.pk).ends_at == T10 + 10 * MIN

    integration.sweep()

    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.price, charge.ends_at) == (1500, T10 + 15 * MIN)


def test_undoing_a_profile_change_after_an_extension_keeps_the_extension_at_the_old_price(owner, renter):
    offer = one_small(owner, bandwidth_mbps=1000)
    factories.price(owner, offer, profile="Medium", price_per_unit=300)
    booking = book(renter, offer)
    with time_machine.travel(T10 + 4 * MIN, tick=False):
        services.booking_transition(actor=None, booking=booking, to="running")
        services.booking_change_profile(
            actor=renter, booking_id=booking.pk, profile_id=SliceProfile.objects.get(owner=None, name="Medium").pk
        )
        assert row(booking)[3] == 2200  # 4 min at 1.00, 6 at 3.00
        extend(renter, booking, 300)
        assert row(booking)[2:] == (300, 3700)  # 5 more minutes at Medium's 3.00

        services.booking_profile_change_undo(actor=None, booking_id=booking.pk, reason="resize refused")

    # Back to Small throughout, the extension included, at Small's price.
    undone = Booking.objects.get(pk=booking.pk)
    assert (undone.profile.name, undone.ends_at, undone.total_price) == ("Small", T10 + 15 * MIN, 1500)
    assert sum(p.amount for p in services.price_schedule(undone)) == 1500
