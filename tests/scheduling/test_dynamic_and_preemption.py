"""Dynamic prices and quotes (expiry with time-machine); preemption with notice and the beat task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from marketplace.lib.errors import ConflictError, PermissionDeniedError, ValidationFailed
from notifications.models import Notification
from scheduling import services, tasks
from scheduling.errors import QuoteExpired, SliceTaken
from scheduling.models import Booking, PriceHistory, Quote
from scheduling.pricing import surge_multiplier
from tests import factories
from tests.scheduling.conftest import NOW

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def dyn(owner):  # type: ignore[no-untyped-def]
    # base 100, floor 50, cap 300; surge 1.0 at 0 %, 1.5 at 50 %, 3.0 at 100 %. Four Smalls fill it.
    return factories.dynamic_offering(owner, base=100, floor=50, cap=300)


def test_surge_curve_is_piecewise_linear_and_flat_outside():
    curve = [[20, 1.0], [50, 1.5], [100, 3.0]]
    assert surge_multiplier(curve, 0) == 1.0
    assert surge_multiplier(curve, 35) == pytest.approx(1.25)
    assert surge_multiplier(curve, 75) == pytest.approx(2.25)
    assert surge_multiplier(curve, 100) == 3.0
    assert surge_multiplier([], 80) == 1.0


def test_quote_price_follows_utilisation_and_is_recorded(dyn, renter):
    sid = factories.slice_id(dyn, T10, 600)
    q0 = services.quote_create(actor=renter, slice_id=sid)
    assert (q0.unit_price, q0.total_price, q0.utilisation) == (100, 1000, 0.0)
    assert q0.expires_at == pytest.approx(q0.created_at + timedelta(seconds=60), abs=timedelta(seconds=1))
    services.booking_request(actor=renter, slice_id=sid, quote_id=str(q0.pk))
    services.booking_request(actor=renter, slice_id=sid)  # no quote: pays the current price
    q50 = services.quote_create(actor=renter, slice_id=sid)  # 2 of 4 -> 50 % -> ×1.5
    assert (q50.unit_price, q50.utilisation) == (150, 0.5)
    services.booking_request(actor=renter, slice_id=sid)
    q75 = services.quote_create(actor=renter, slice_id=sid)  # 75 % -> ×2.25 -> 225
    assert q75.unit_price == 225
    prices = list(PriceHistory.objects.filter(source="dynamic").order_by("id").values_list("unit_price", flat=True))
    # a point per change: quote at 0 % (the buy with it adds none), buy at 25 %, quote at 50 % (the
    # buy at 50 % is the same price: no point), quote at 75 %
    assert prices == [100, 125, 150, 225]


def test_buying_with_a_valid_quote_pays_the_quoted_price_even_if_demand_rose(dyn, renter):
    sid = factories.slice_id(dyn, T10, 600)
    quote = services.quote_create(actor=renter, slice_id=sid)
    services.booking_request(actor=factories.renter(), slice_id=sid)
    services.booking_request(actor=factories.renter(), slice_id=sid)
    booking = services.booking_request(actor=renter, slice_id=sid, quote_id=str(quote.pk))
    assert (booking.unit_price, booking.total_price) == (100, 1000)
    assert Quote.objects.get(pk=quote.pk).used_at is not None
    with pytest.raises(ConflictError):
        services.booking_request(actor=renter, slice_id=sid, quote_id=str(quote.pk))


def test_expired_quote_is_refused_with_a_fresh_one(dyn, renter):
    sid = factories.slice_id(dyn, T10, 600)
    quote = services.quote_create(actor=renter, slice_id=sid)
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False), pytest.raises(QuoteExpired) as exc:
        services.booking_request(actor=renter, slice_id=sid, quote_id=str(quote.pk))
    assert exc.value.status_code == 409
    fresh = exc.value.extra["quote"]
    assert fresh["id"] != str(quote.pk) and fresh["unit_price"] == "1.00"
    assert Quote.objects.get(pk=fresh["id"]).expires_at == NOW + timedelta(seconds=121)
    assert not Booking.objects.exists()


def test_quote_of_another_renter_or_slice_is_refused(dyn, renter):
    quote = services.quote_create(actor=renter, slice_id=factories.slice_id(dyn, T10, 600))
    with pytest.raises(ValidationFailed):
        services.booking_request(
            actor=factories.renter(), slice_id=factories.slice_id(dyn, T10, 600), quote_id=str(quote.pk)
        )
    with pytest.raises(ValidationFailed):
        services.booking_request(actor=renter, slice_id=factories.slice_id(dyn, T10, 300), quote_id=str(quote.pk))
    with pytest.raises(ValidationFailed):
        services.booking_request(actor=renter, slice_id=factories.slice_id(dyn, T10, 600), quote_id="nonsense")
    assert not Booking.objects.exists()


# ---- preemption -----------------------------------------------------------------------------------


@pytest.fixture
def fixed(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, preemption_notice_seconds=120)


def test_owner_preempts_with_notice_and_the_beat_task_ends_it_at_the_deadline(owner, renter, fixed, notified):
    sid = factories.slice_id(fixed, T10, 600)
    bookings = [services.booking_request(actor=factories.renter(), slice_id=sid) for _ in range(4)]
    with pytest.raises(SliceTaken):
        services.booking_request(actor=renter, slice_id=sid)
    target = bookings[0]
    noticed = services.booking_preempt(actor=owner, booking=target)
    assert noticed.state == "notice"
    assert noticed.preempt_deadline == pytest.approx(NOW + timedelta(seconds=120), abs=timedelta(seconds=2))
    note = Notification.objects.get(user=target.renter, kind="preemption_notice")
    assert f"ends at {noticed.preempt_deadline:%Y-%m-%d %H:%M:%S} UTC" in note.body
    # Under notice the capacity is still held.
    with pytest.raises(SliceTaken):
        services.booking_request(actor=renter, slice_id=sid)
    assert tasks.end_due_preemptions() == 0
    with time_machine.travel(NOW + timedelta(seconds=125), tick=False):
        assert tasks.end_due_preemptions() == 1
        assert tasks.end_due_preemptions() == 0  # idempotent
        ended = Booking.objects.get(pk=target.pk)
        assert (ended.state, ended.ended_at) == ("preempted", NOW + timedelta(seconds=125))
        assert Notification.objects.filter(user=target.renter, kind="slice_ended").count() == 1
        # The capacity reopened.
        assert services.booking_request(actor=renter, slice_id=sid).state == "confirmed"


def test_custom_notice_and_whole_offering(owner, fixed):
    bookings = [
        services.booking_request(
            actor=factories.renter(), slice_id=factories.slice_id(fixed, T10 + timedelta(minutes=i), 60)
        )
        for i in range(3)
    ]
    assert services.offering_preempt_all(actor=owner, offering=fixed, notice_seconds=30) == 3
    assert {b.state for b in Booking.objects.filter(pk__in=[b.pk for b in bookings])} == {"notice"}
    with time_machine.travel(NOW + timedelta(seconds=31), tick=False):
        assert tasks.end_due_preemptions() == 3


def test_zero_notice_preempts_at_once(owner, fixed):
    b = services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(fixed, T10, 60))
    assert services.booking_preempt(actor=owner, booking=b, notice_seconds=0).state == "preempted"


def test_only_the_offerings_owner_or_staff_may_preempt(owner, other_owner, renter, staff, fixed):
    b = services.booking_request(actor=renter, slice_id=factories.slice_id(fixed, T10, 60))
    for actor in (other_owner, renter):
        with pytest.raises(PermissionDeniedError):
            services.booking_preempt(actor=actor, booking=b)
    assert Booking.objects.get(pk=b.pk).state == "confirmed"
    assert services.booking_preempt(actor=staff, booking=b).state == "notice"
    with pytest.raises(ConflictError):
        services.booking_preempt(actor=owner, booking=b)


def test_release_reopens_capacity_and_only_the_renter_may(owner, renter, fixed):
    sid = factories.slice_id(fixed, T10, 600)
    mine = services.booking_request(actor=renter, slice_id=sid)
    for _ in range(3):
        services.booking_request(actor=factories.renter(), slice_id=sid)
    with pytest.raises(PermissionDeniedError):
        services.booking_release(actor=owner, booking_id=mine.pk)
    from marketplace.lib.errors import NotFoundError

    with pytest.raises(NotFoundError):
        services.booking_release(actor=factories.renter(), booking_id=mine.pk)
    released = services.booking_release(actor=renter, booking_id=mine.pk)
    assert (released.state, released.ended_at is not None) == ("released", True)
    assert services.booking_request(actor=factories.renter(), slice_id=sid).state == "confirmed"
    with pytest.raises(ConflictError):
        services.booking_release(actor=renter, booking_id=mine.pk)


# ---- issue 12: a notice is bounded, and the portal confirms before preempting ---------------------------


def test_a_notice_above_the_operators_maximum_is_refused_in_words_and_changes_nothing(owner, fixed, settings):
    settings.MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS = 86400
    b = services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(fixed, T10, 600))
    for call in (
        lambda: services.booking_preempt(actor=owner, booking=b, notice_seconds=99_999_999_999),
        lambda: services.offering_preempt_all(actor=owner, offering=fixed, notice_seconds=99_999_999_999),
    ):
        with pytest.raises(ValidationFailed) as exc:
            call()
        assert exc.value.errors["notice_seconds"] == [
            "The notice can be at most 24 h (86,400 s); 99,999,999,999 s is longer."
        ]
    assert Booking.objects.get(pk=b.pk).state == "confirmed"
    assert not Notification.objects.filter(booking_id=b.pk).exists()


def test_a_notice_never_outlasts_the_booking_which_then_completes_at_its_end(owner, fixed, notified):
    start = NOW.replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        b = services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(fixed, start, 300))
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        noticed = services.booking_preempt(actor=owner, booking=b, notice_seconds=3600)
        assert (noticed.preempt_deadline, noticed.notice_seconds) == (b.ends_at, 240)
        note = Notification.objects.get(booking_id=b.pk, kind="preemption_notice")
        assert f"ends at {b.ends_at:%Y-%m-%d %H:%M:%S} UTC" in note.body  # its own end: the notice outlasts it
    with time_machine.travel(b.ends_at + timedelta(seconds=1), tick=False):
        services.bookings_end_due()
        assert Booking.objects.get(pk=b.pk).state == "completed"


def test_preempt_all_in_the_portal_shows_what_it_does_and_acts_only_when_confirmed(owner, fixed):
    from tests.conftest import login

    bookings = [
        services.booking_request(
            actor=factories.renter(), slice_id=factories.slice_id(fixed, T10 + timedelta(minutes=i), 60)
        )
        for i in range(2)
    ]
    client = login(owner)
    url = f"/owner/market/offerings/{fixed.pk}/preempt"
    page = client.post(url, {"notice_seconds": "30", "reason": "disk swap"}).content.decode()
    assert f"Preempt {fixed.name}?" in page
    assert "2 live booking(s) will be given notice" in page
    assert f"Booking {bookings[0].pk} ends as preempted at" in page and "(30 s notice)" in page
    assert 'name="notice_seconds" value="30"' in page and 'name="confirm" value="yes"' in page
    assert {b.state for b in Booking.objects.filter(pk__in=[b.pk for b in bookings])} == {"confirmed"}
    client.post(url, {"notice_seconds": "30", "reason": "disk swap", "confirm": "yes"})
    assert {b.state for b in Booking.objects.filter(pk__in=[b.pk for b in bookings])} == {"notice"}


def test_an_unbounded_notice_in_the_portal_is_shown_in_words_with_the_typed_value(owner, fixed, settings):
    from tests.conftest import login

    settings.MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS = 86400
    b = services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(fixed, T10, 600))
    page = (
        login(owner)
        .post(f"/owner/market/bookings/{b.pk}/preempt", {"notice_seconds": "99999999999", "confirm": "yes"})
        .content.decode()
    )
    assert "The notice can be at most 24 h (86,400 s); 99,999,999,999 s is longer." in page
    assert 'value="99999999999"' in page
    assert Booking.objects.get(pk=b.pk).state == "confirmed"
    assert not Notification.objects.filter(booking_id=b.pk).exists()
