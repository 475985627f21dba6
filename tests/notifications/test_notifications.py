"""Issue 15 item 4: every kind is a portal notification and an email with the right content, each
switchable by its user; the badge counts unread ones; nobody sees or marks another's."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.urls import reverse

from audit.models import DomainEvent
from billing import services as billing
from billing.models import Payment, Payout
from notifications import email, services
from notifications.models import Notification
from provisioning.models import Server
from renters import services as renter_services
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.conftest import login
from tests.notifications.conftest import T10

pytestmark = pytest.mark.django_db


def _send_emails() -> None:
    """What the on-commit tasks do (a worker, in production): email every pending notification."""
    for pk in Notification.objects.filter(email_state="pending").values_list("pk", flat=True):
        email.send(pk)


def _told(user, kind):  # type: ignore[no-untyped-def]
    """The user's one notification of ``kind`` and the email it sent."""
    _send_emails()
    (n,) = Notification.objects.filter(user=user, kind=kind)
    sent = [m for m in mail.outbox if m.to == [user.email] and m.subject == f"[Slice Market] {n.title}"]
    assert len(sent) == 1, [m.subject for m in mail.outbox]
    assert n.body in sent[0].body
    return n, sent[0]


def _funded_renter(zone: str = "Asia/Tokyo"):  # type: ignore[no-untyped-def]
    r = factories.renter()
    r.timezone = zone
    r.save(update_fields=["timezone"])
    factories.fund_renter(r, 1_000_000)
    return r


def _buy(renter, offer, start=T10, seconds=600):  # type: ignore[no-untyped-def]
    return engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, seconds))


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25}, name="Oslo-1")


def test_a_booking_told_through_its_life_in_the_renters_zone(owner, offer):
    renter = _funded_renter()
    booking = _buy(renter, offer)
    n, m = _told(owner, "booking_received")
    assert n.title == f"New booking {booking.pk} on Oslo-1"
    assert (
        f"{renter.handle} booked Oslo-1 (Small), 2026-12-01 10:00:00 UTC to 2026-12-01 10:10:00 UTC for 2.50 USD"
        in n.body
    )
    assert renter.email not in m.body  # owners know renters by handle only

    engine.booking_transition(actor=None, booking=booking, to="provisioning")
    n, _ = _told(renter, "slice_starting")
    assert n.title == f"Booking {booking.pk} is starting"
    assert "Oslo-1 (Small), 2026-12-01 19:00:00 Asia/Tokyo to 2026-12-01 19:10:00 Asia/Tokyo is starting" in n.body

    Server.objects.create(
        booking=booking,
        cloud=offer.cloud,
        offering=offer,
        state="active",
        name="srv-1",
        image_name="ubuntu-24.04",
        addresses={"public": [{"addr": "203.0.113.7", "version": 4}]},
    )
    engine.booking_transition(actor=None, booking=Booking.objects.get(pk=booking.pk), to="running")
    n, m = _told(renter, "server_ready")
    assert "Connect with: ssh ubuntu@203.0.113.7 (with your SSH key)." in n.body
    assert "It runs until 2026-12-01 19:10:00 Asia/Tokyo." in n.body
    assert f"Open: http://localhost:8000/bookings/{booking.pk}/server/" in m.body

    with time_machine.travel(T10 + timedelta(minutes=1), tick=False):
        engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=120)
    n, _ = _told(renter, "preemption_notice")
    assert n.title == f"Preemption notice: booking {booking.pk} ends at 2026-12-01 19:03:00 Asia/Tokyo"
    assert "ends at 2026-12-01 19:03:00 Asia/Tokyo" in n.body


def test_a_slice_ended_with_its_charge(owner, offer, django_capture_on_commit_callbacks):
    renter = _funded_renter("Europe/Paris")
    with django_capture_on_commit_callbacks(execute=True):
        booking = _buy(renter, offer)  # billing holds the price after commit
    engine.booking_release(actor=renter, booking_id=booking.pk)
    n, m = _told(renter, "slice_ended")
    assert n.title == f"Booking {booking.pk} ended: you released it"
    assert "Oslo-1 (Small), 2026-12-01 11:00:00 Europe/Paris to 2026-12-01 11:10:00 Europe/Paris ended" in n.body
    # Released before its start: billing's own computation says what is charged and what returns.
    assert "Charged " in n.body and " USD" in n.body
    assert "Choose what you are told: http://localhost:8000/account/notifications/preferences/" in m.body


def test_a_failed_server_tells_the_renter_and_the_owner(owner, offer):
    renter = _funded_renter()
    booking = _buy(renter, offer)
    engine.booking_transition(actor=None, booking=booking, to="failed", reason="The cloud refused the launch.")
    n, _ = _told(owner, "server_failed")
    assert n.title == f"A server failed: booking {booking.pk} on Oslo-1"
    assert "failed: The cloud refused the launch." in n.body
    ended, _ = _told(renter, "slice_ended")
    assert "its server failed" in ended.body


def test_bids_outbid_and_won(owner):
    auction = factories.auction_offering(owner, reserve=10, rule="uniform", closes=600)  # four Smalls fit
    renters = [_funded_renter("UTC") for _ in range(5)]
    sid = factories.slice_id(auction, T10, 600)
    for r, amount in zip(renters, ["0.10", "0.20", "0.30", "0.40", "0.50"], strict=True):
        engine.booking_request(actor=r, slice_id=sid, bid=amount)
    with time_machine.travel(T10 - timedelta(minutes=5), tick=False):
        assert engine.auctions_clear_due().winners == 4
    lost, _ = _told(renters[0], "bid_outbid")
    assert lost.title == f"Outbid on {auction.name}" and "Your bid of 0.10 USD per grid unit" in lost.body
    won, _ = _told(renters[4], "bid_won")
    assert "at 0.10 USD per grid unit" in won.body  # uniform price: the highest losing bid
    assert not Notification.objects.filter(user=renters[0], kind="bid_won").exists()


def test_a_failed_payment(renter):
    payment = Payment.objects.create(
        user=renter, purpose="topup", amount=5000, currency="USD", idempotency_key="p1", status="pending"
    )
    with transaction.atomic():
        billing.payment_apply_remote(
            payment_id=payment.pk,
            remote={"status": "requires_payment_method", "last_payment_error": {"message": "Your card was declined."}},
        )
    n, _ = _told(renter, "payment_failed")
    assert n.title == "Payment failed" and "A payment of 50.00 USD failed: Your card was declined." in n.body


def test_a_payout_made(owner):
    payout = Payout.objects.create(
        owner=owner, amount=12345, currency="USD", trigger="on_demand", idempotency_key="po1", status="pending"
    )
    billing.payout_apply_remote(payout_id=payout.pk, remote={"id": "tr_123"})
    n, _ = _told(owner, "payout_paid")
    assert n.title == "Payout made: 123.45 USD"
    billing.payout_apply_remote(payout_id=payout.pk, remote={"id": "tr_123"})  # told again: once only
    assert Notification.objects.filter(user=owner, kind="payout_paid").count() == 1


def test_balance_low(offer, django_capture_on_commit_callbacks):
    r = factories.renter()
    factories.fund_renter(r, 1100)  # "low" is below 10.00 USD (BILLING_BALANCE_LOW)
    with django_capture_on_commit_callbacks(execute=True):
        _buy(r, offer)  # holds 2.50
    n, _ = _told(r, "balance_low")
    assert n.title == "Your balance is low: 8.50 USD" and "below 10.00 USD" in n.body


def test_spend_limit_reached(offer, django_capture_on_commit_callbacks):
    r = _funded_renter()
    renter_services.renter_settings_update(actor=r, spend_limit=500, currency="USD")  # 5.00 USD a month
    with django_capture_on_commit_callbacks(execute=True):
        _buy(r, offer)  # 2.50: half of it
    assert not Notification.objects.filter(user=r, kind="spend_limit_reached").exists()
    with django_capture_on_commit_callbacks(execute=True):
        _buy(r, offer, start=T10 + timedelta(hours=1))  # 5.00: all of it
    n, _ = _told(r, "spend_limit_reached")
    assert n.title == "Spend limit: 5.00 USD of 5.00 USD this month"
    assert "A booking that would go above the limit is refused" in n.body


def test_emails_go_after_commit_through_the_task(owner, offer, django_capture_on_commit_callbacks):
    from celery import current_app

    renter = _funded_renter()
    current_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            _buy(renter, offer)
        assert not mail.outbox  # nothing is sent before commit
        for callback in callbacks:
            callback()
    finally:
        current_app.conf.task_always_eager = False
    assert [m.subject for m in mail.outbox if m.to == [owner.email]] == [
        f"[Slice Market] {Notification.objects.get(user=owner).title}"
    ]
    assert Notification.objects.get(user=owner).email_state == "sent"


def test_a_rolled_back_change_tells_nobody(owner, offer):
    renter = _funded_renter()
    with pytest.raises(RuntimeError), transaction.atomic():
        _buy(renter, offer)
        assert Notification.objects.filter(user=owner).exists()
        raise RuntimeError("rolled back")
    assert not Notification.objects.exists()


def test_switching_a_kind_off_stops_it(owner, offer):
    renter = _funded_renter()
    c = login(owner)
    page = c.get(reverse("notifications:preferences")).content.decode()
    assert "A booking on one of your offerings" in page and "Payout made" in page
    form = {f"{k}__{w}": "on" for k in ("booking_received", "payout_paid") for w in ("portal", "email")}
    form.pop("booking_received__email")  # portal only
    r = c.post(reverse("notifications:preferences"), form)
    assert r.status_code == 302
    _buy(renter, offer)
    _send_emails()
    n = Notification.objects.get(user=owner, kind="booking_received")
    assert n.in_portal and n.email_state == "none" and not mail.outbox
    # Both ways off: nothing at all.
    c.post(reverse("notifications:preferences"), {"payout_paid__portal": "on"})
    _buy(renter, offer, start=T10 + timedelta(hours=1))
    assert Notification.objects.filter(user=owner, kind="booking_received").count() == 1
    # Email only: emailed, never listed nor counted.
    services.preferences_set(actor=owner, choices={"booking_received": (False, True)})
    _buy(renter, offer, start=T10 + timedelta(hours=2))
    _send_emails()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    listed = c.get(reverse("notifications:list"))
    assert len(listed.context["page"].object_list) == 1 and listed.context["unread"] == 1
    assert DomainEvent.objects.filter(verb="notification.preferences_changed", actor_id=owner.pk).count() == 3


def test_a_renter_cannot_choose_an_owners_kind(renter):
    page = login(renter).get(reverse("notifications:preferences")).content.decode()
    assert "Slice starting" in page and "A booking on one of your offerings" not in page
    from marketplace.lib.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="Unknown notification kind payout_paid"):
        services.preferences_set(actor=renter, choices={"payout_paid": (False, False)})


def test_the_badge_counts_unread_and_read_state_works(owner, offer):
    renter = _funded_renter()
    for hour in range(3):
        _buy(renter, offer, start=T10 + timedelta(hours=hour))
    c = login(owner)
    home = c.get(reverse("scheduling:owner_market")).content.decode()
    assert '<mark class="badge" data-testid="unread-badge" aria-label="3 unread">3</mark>' in home
    first, second, third = Notification.objects.filter(user=owner).order_by("id")
    assert c.post(reverse("notifications:read", args=[first.pk])).status_code == 302
    listed = c.get(reverse("notifications:list"))
    html = listed.content.decode()
    assert 'aria-label="2 unread">2</mark>' in html and listed.context["unread"] == 2
    assert f'<li class="notification read" id="notification-{first.pk}">' in html
    assert f'<li class="notification unread" id="notification-{second.pk}">' in html
    opened = c.post(reverse("notifications:read", args=[second.pk]), {"open": "1"})
    assert opened.status_code == 302 and opened.url == "/owner/market/"
    r = c.post(reverse("notifications:read_all"), follow=True)
    assert "1 notification marked read." in r.content.decode()
    assert 'data-testid="unread-badge"' not in r.content.decode()
    assert not Notification.objects.filter(user=owner, read_at__isnull=True).exists()
    assert DomainEvent.objects.filter(verb="notification.read", actor_id=owner.pk).count() == 2
    assert DomainEvent.objects.get(verb="notification.read_all").data == {"count": 1}


def test_nobody_sees_or_marks_anothers_notifications(owner, other_owner, offer):
    renter = _funded_renter()
    _buy(renter, offer)
    mine = Notification.objects.get(user=owner)
    c = login(other_owner)
    assert mine.title not in c.get(reverse("notifications:list")).content.decode()
    assert c.post(reverse("notifications:read", args=[mine.pk])).status_code == 404
    assert c.post(reverse("notifications:read", args=[mine.pk]), {"open": "1"}).status_code == 404
    c.post(reverse("notifications:read_all"))
    mine.refresh_from_db()
    assert mine.read_at is None
    assert login(owner).get(reverse("notifications:read", args=[mine.pk])).status_code == 405  # GET never marks


def test_an_error_in_notifications_never_breaks_the_market(owner, offer, monkeypatch):
    from notifications import events

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("notifications bug")

    monkeypatch.setattr(events, "write", broken)
    booking = _buy(_funded_renter(), offer)
    assert Booking.objects.get(pk=booking.pk).state == "confirmed"
    assert not Notification.objects.exists()


def test_a_failed_email_is_retried_by_the_sweep(owner, offer, monkeypatch):
    _buy(_funded_renter(), offer)
    n = Notification.objects.get(user=owner)

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("mail server down")

    monkeypatch.setattr(email, "send_mail", down)
    assert email.send(n.pk) is False
    n.refresh_from_db()
    assert n.email_state == "pending" and n.email_attempts == 1
    monkeypatch.undo()
    assert email.sweep() == 0  # too young: still the on-commit task's
    with time_machine.travel(n.created_at + timedelta(minutes=2), tick=False):
        assert email.sweep() == 1
    n.refresh_from_db()
    assert n.email_state == "sent" and len(mail.outbox) == 1
