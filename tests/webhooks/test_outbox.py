"""The outbox is written in the transaction of the change it reports: a rolled-back change writes
nothing, a committed one always has its event; each event is the booking as it became."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction

from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.webhooks.conftest import T10
from tests.webhooks.helpers import buy, endpoint
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/slicemarket"


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def test_a_confirmed_booking_writes_its_event_and_a_pending_delivery(renter, offer):
    ep, _ = endpoint(renter, URL)
    booking = buy(renter, offer)
    event = Event.objects.get()
    assert (event.type, event.user_id, event.booking_id) == ("booking.confirmed", renter.pk, booking.pk)
    body = json.loads(event.body)
    assert body["id"] == str(event.event_id) and body["type"] == "booking.confirmed"
    assert body["data"]["booking"]["id"] == booking.pk
    assert body["data"]["booking"]["state"] == "confirmed"
    assert body["data"]["booking"]["total_price"] == 250  # 10 minutes at 25 a minute
    assert body["data"]["previous_state"] == "requested"
    d = Delivery.objects.get()
    assert (d.endpoint_id, d.event_id, d.state, d.booking_id) == (ep.pk, event.pk, "pending", booking.pk)


def test_a_rolled_back_booking_writes_no_event(renter, offer):
    endpoint(renter, URL)
    factories.fund_renter(renter, 1_000_000)
    with pytest.raises(RuntimeError), transaction.atomic():
        engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
        assert Event.objects.count() == 1  # written inside the transaction...
        raise RuntimeError("the caller fails after the booking")
    assert not Booking.objects.exists()
    assert not Event.objects.exists() and not Delivery.objects.exists()  # ...and gone with it


def test_nothing_is_written_for_nobody(renter, offer, other_owner):
    endpoint(other_owner, URL)  # someone else's endpoint
    endpoint(renter, URL, ["bid.won"])  # the renter's, but another event type
    buy(renter, offer)
    assert not Event.objects.exists()


def test_a_turned_off_endpoint_gets_no_new_deliveries(renter, offer):
    from webhooks import services

    ep, _ = endpoint(renter, URL)
    services.endpoint_update(actor=renter, endpoint=ep, is_active=False)
    buy(renter, offer)
    assert not Delivery.objects.exists()


def test_every_step_of_a_booking_is_an_event_in_order(renter, owner, offer):
    endpoint(renter, URL)
    booking = buy(renter, offer)
    engine.booking_transition(actor=None, booking=booking, to="provisioning")
    engine.booking_transition(actor=None, booking=booking, to="running")
    with time_machine.travel(T10 + timedelta(minutes=1), tick=False):
        engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=120)
    types = list(Event.objects.order_by("id").values_list("type", flat=True))
    assert types == ["booking.confirmed", "booking.provisioning", "booking.running", "booking.notice"]
    notice = json.loads(Event.objects.get(type="booking.notice").body)
    assert notice["data"]["deadline"] == "2026-12-01T10:03:00Z"
    assert notice["data"]["booking"]["preempt_deadline"] == "2026-12-01T10:03:00Z"


def test_a_release_is_an_ended_event_with_its_outcome_and_final_charge(
    renter, offer, django_capture_on_commit_callbacks
):
    endpoint(renter, URL, ["booking.ended"])
    with django_capture_on_commit_callbacks(execute=True):
        booking = buy(renter, offer)  # billing holds the price after commit
    engine.booking_release(actor=renter, booking_id=booking.pk)
    body = json.loads(Event.objects.get().body)
    assert body["type"] == "booking.ended"
    assert body["data"]["outcome"] == "released"
    assert body["data"]["booking"]["state"] == "released"
    # Released before its start: billing's own computation says what is charged of what it held.
    assert body["data"]["charge"]["currency"] == "USD"
    assert body["data"]["charge"]["amount"] + body["data"]["charge"]["refund"] == 250


def test_an_error_in_the_outbox_never_breaks_the_market(renter, offer, monkeypatch):
    from webhooks import events

    endpoint(renter, URL)

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("outbox bug")

    monkeypatch.setattr(events, "write", broken)  # called after the subscribers are found
    booking = buy(renter, offer)
    assert Booking.objects.get(pk=booking.pk).state == "confirmed"
    assert not Event.objects.exists()


def test_nobody_listening_costs_the_market_one_query(renter, offer, other_owner, django_assert_num_queries):
    from scheduling import hooks
    from webhooks import events

    endpoint(other_owner, URL)  # someone else listens
    endpoint(renter, URL, ["bid.won"])  # the renter listens to something else
    booking = buy(renter, offer)
    change = hooks.BookingEvent(booking.pk, "transition", "confirmed", "provisioning", booking.updated_at)
    with django_assert_num_queries(1):
        events.on_booking_events([change])
    assert not Event.objects.exists()


def test_an_extension_is_told_as_booking_extended(renter, offer):
    """What the extend service fires (issue 13 item 4): kind "extended", the new and previous end."""
    from scheduling import hooks

    endpoint(renter, URL, ["booking.extended"])
    booking = buy(renter, offer)
    new_end = booking.ends_at + timedelta(minutes=10)
    with transaction.atomic():
        Booking.objects.filter(pk=booking.pk).update(ends_at=new_end)
        hooks.booking_event(
            booking.pk,
            "extended",
            "confirmed",
            "confirmed",
            booking.updated_at,
            data={"ends_at": new_end, "previous_ends_at": booking.ends_at, "total_price": 500},
        )
    body = json.loads(Event.objects.get().body)
    assert body["type"] == "booking.extended"
    assert (
        body["data"]["ends_at"] == "2026-12-01T10:20:00Z" and body["data"]["previous_ends_at"] == "2026-12-01T10:10:00Z"
    )
    assert body["data"]["booking"]["ends_at"] == "2026-12-01T10:20:00Z"
