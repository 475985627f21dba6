"""Delivery to a real local HTTP server (the operator's allowance for 127.0.0.0/8 on): signed, in
order per booking under retries, with backoff, disabled after repeated failure with a notice."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from marketplace.lib import clock
from notifications import email
from notifications.models import Notification
from scheduling import services as engine
from tests import factories
from tests.webhooks.conftest import T10
from tests.webhooks.helpers import buy, endpoint
from webhooks import delivery, signing
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def test_a_delivery_is_signed_with_the_endpoint_secret(renter, offer, receiver, allow_local):
    ep, secret = endpoint(renter, receiver.url)
    booking = buy(renter, offer)
    assert delivery.deliver_endpoint(ep.pk) == 1
    [got] = receiver.requests
    event = Event.objects.get()
    assert got.body == event.body.encode()
    assert got.headers["slicemarket-event-id"] == str(event.event_id)
    assert got.headers["content-type"] == "application/json"
    assert signing.verify(secret, got.headers["slicemarket-signature"], got.body) > 0
    assert got.json["data"]["booking"]["id"] == booking.pk
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, got.headers["slicemarket-signature"], got.body.replace(b"confirmed", b"released"))
    with pytest.raises(signing.SignatureError), time_machine.travel(clock.now() + timedelta(minutes=6)):
        signing.verify(secret, got.headers["slicemarket-signature"], got.body)  # replayed later
    d = Delivery.objects.get()
    assert (d.state, d.attempts, d.last_status_code) == ("delivered", 1, 200)
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.succeeded, attempt.status_code, attempt.response_body) == (True, 200, "answer 200")
    assert delivery.deliver_endpoint(ep.pk) == 0 and len(receiver.requests) == 1  # at least once, not again


def test_order_per_booking_holds_under_retries(renter, offer, receiver, allow_local):
    """The server fails the first attempt of event 1: event 2 of the same booking is not sent before
    event 1 succeeded; another booking's event is not held back."""
    ep, _ = endpoint(renter, receiver.url)
    first = buy(renter, offer)
    engine.booking_transition(actor=None, booking=first, to="provisioning")  # event 2 of the same booking
    seen: list[str] = []

    def answer(r):  # type: ignore[no-untyped-def]
        key = f"{r.json['data']['booking']['id']}:{r.json['type']}"
        seen.append(key)
        return 500 if key == f"{first.pk}:booking.confirmed" and seen.count(key) == 1 else 200

    receiver.answer = answer
    assert delivery.deliver_endpoint(ep.pk) == 0  # event 1 failed: the run stops
    assert receiver.types() == ["booking.confirmed"]
    other = buy(renter, offer, start=T10 + timedelta(hours=1))  # another booking
    assert delivery.deliver_endpoint(ep.pk) == 1  # event 1 waits for its retry, its event 2 waits for it...
    assert [r.json["data"]["booking"]["id"] for r in receiver.requests] == [first.pk, other.pk]  # ...others don't
    with time_machine.travel(clock.now() + timedelta(seconds=31), tick=False):
        assert delivery.deliver_endpoint(ep.pk) == 2
    assert seen == [
        f"{first.pk}:booking.confirmed",
        f"{other.pk}:booking.confirmed",
        f"{first.pk}:booking.confirmed",
        f"{first.pk}:booking.provisioning",
    ]


def test_backoff_doubles_from_the_base_to_the_cap(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    assert [delivery.backoff(n).total_seconds() for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_failed_attempts_are_retried_on_the_backoff_schedule(renter, offer, receiver, allow_local):
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)
    receiver.answer = lambda r: 503
    start = clock.now()
    waits = []
    at = start
    for _ in range(4):
        with time_machine.travel(at, tick=False):
            delivery.deliver_endpoint(ep.pk)
            d = Delivery.objects.get()
            waits.append(round((d.next_attempt_at - at).total_seconds()))
            assert delivery.deliver_endpoint(ep.pk) == 0  # not due yet: nothing sent
            at = d.next_attempt_at
    assert waits == [30, 60, 120, 240]
    assert len(receiver.requests) == 4
    log = list(DeliveryAttempt.objects.order_by("at").values_list("status_code", "succeeded", "error"))
    assert log == [(503, False, "Not a 2xx answer.")] * 4


def test_an_endpoint_that_keeps_failing_is_turned_off_and_its_user_told(
    renter, offer, receiver, allow_local, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)
    receiver.answer = lambda r: 500
    at = clock.now()
    for _ in range(3):
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            delivery.deliver_endpoint(ep.pk)
        at = Delivery.objects.get().next_attempt_at
    ep.refresh_from_db()
    assert not ep.is_active and ep.consecutive_failures == 3
    assert "3 failed deliveries" in ep.disabled_reason
    note = Notification.objects.get(user=renter, kind="webhook_disabled")
    assert receiver.url in note.body and "turned off" in note.body and note.in_portal
    assert note.link == f"/account/webhooks/{ep.pk}/"
    assert note.email_state == "pending"
    email.send(note.pk)  # what its on-commit task does in a worker
    [sent] = [m for m in mail.outbox if m.to == [renter.email] and "webhook" in m.subject.lower()]
    assert receiver.url in sent.body and "3 deliveries failed" in sent.body
    with time_machine.travel(at + timedelta(hours=1), tick=False):
        assert delivery.deliver_endpoint(ep.pk) == 0
        assert delivery.sweep() == []  # nothing is sent to a turned-off endpoint
    assert len(receiver.requests) == 3
    # Fixed and turned on again: what waited is sent.
    from webhooks import services

    receiver.answer = lambda r: 200
    services.endpoint_update(actor=renter, endpoint=ep, is_active=True)
    with time_machine.travel(at + timedelta(hours=1), tick=False):
        assert delivery.deliver_endpoint(ep.pk) == 1
    ep.refresh_from_db()
    assert ep.is_active and ep.consecutive_failures == 0


def test_a_success_resets_the_failure_count(renter, offer, receiver, allow_local):
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)
    answers = iter([500, 200])
    receiver.answer = lambda r: next(answers)
    delivery.deliver_endpoint(ep.pk)
    assert Endpoint.objects.get(pk=ep.pk).consecutive_failures == 1
    with time_machine.travel(clock.now() + timedelta(seconds=31), tick=False):
        delivery.deliver_endpoint(ep.pk)
    assert Endpoint.objects.get(pk=ep.pk).consecutive_failures == 0


def test_a_delivery_is_given_up_after_the_maximum_attempts_and_the_next_goes(
    renter, offer, receiver, allow_local, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    ep, _ = endpoint(renter, receiver.url)
    booking = buy(renter, offer)
    engine.booking_transition(actor=None, booking=booking, to="provisioning")
    receiver.answer = lambda r: 500 if r.json["type"] == "booking.confirmed" else 200
    delivery.deliver_endpoint(ep.pk)
    with time_machine.travel(clock.now() + timedelta(seconds=31), tick=False):
        delivery.deliver_endpoint(ep.pk)  # second failure: given up
        delivery.deliver_endpoint(ep.pk)  # the next of its booking may go
    states = dict(Delivery.objects.values_list("event__type", "state"))
    assert states == {"booking.confirmed": "failed", "booking.provisioning": "delivered"}


def test_the_sweep_sends_a_run_to_endpoints_with_due_work(renter, offer, receiver, allow_local, monkeypatch):
    from marketplace.lib import enqueue

    sent = []
    monkeypatch.setattr(enqueue, "send", lambda name, *args: sent.append((name, *args)))
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)  # its on-commit send is lost (no commit in this test): the sweep finds it
    assert delivery.sweep() == [ep.pk]
    assert sent == [("webhooks.deliver_endpoint", ep.pk)]


def test_a_worker_that_died_mid_delivery_leaves_it_to_the_next(renter, offer, receiver, allow_local):
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)
    claimed = delivery._claim(ep.pk)  # a worker claimed it and died before sending
    assert claimed is not None
    assert delivery.deliver_endpoint(ep.pk) == 0  # claimed by a live worker (as far as we know)
    with time_machine.travel(clock.now() + timedelta(minutes=2), tick=False):
        assert delivery.deliver_endpoint(ep.pk) == 1  # the claim expired
    assert len(receiver.requests) == 1


def test_old_events_are_purged_unless_still_pending(renter, offer, receiver, allow_local, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)
    buy(renter, offer, start=T10 + timedelta(hours=1))
    first = Event.objects.order_by("id").first()
    Delivery.objects.filter(event=first).update(state="delivered")
    later = clock.now() + timedelta(days=31)
    assert delivery.purge(now=later) == 1  # the delivered one (its delivery goes with it)
    assert not Event.objects.filter(pk=first.pk).exists() and Event.objects.count() == 1
    assert Delivery.objects.count() == 1  # the pending one's
    assert delivery.purge(now=clock.now()) == 0  # recent: kept


def test_an_unreadable_secret_is_a_failed_attempt_not_a_crash(renter, offer, receiver, allow_local):
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, offer)
    Endpoint.objects.filter(pk=ep.pk).update(secret_encrypted="not-a-fernet-token")
    assert delivery.deliver_endpoint(ep.pk) == 0
    assert receiver.requests == []
    assert "rotate it" in DeliveryAttempt.objects.get().error
    assert Delivery.objects.get().claimed_until is None
