"""The engine ends due bookings; provisioning reacts (hand-over or reclaim); sweeps retry work whose message was lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from marketplace.lib import clock
from owners.models import SliceProfile
from provisioning import hooks, services, tasks
from provisioning.models import Server
from scheduling import services as engine
from scheduling import tasks as engine_tasks
from scheduling.models import Booking
from tests.provisioning.helpers import booking

pytestmark = pytest.mark.django_db


def test_the_engine_ends_due_bookings(sim_offering, renter):  # type: ignore[no-untyped-def]
    running = booking(renter, sim_offering, seconds=120)
    services.server_launch(booking_id=running.pk)
    never_ready = booking(renter, sim_offering, seconds=120, profile="Medium")
    later = booking(renter, sim_offering, seconds=600, profile="Medium", starts_at=running.ends_at)
    with time_machine.travel(running.ends_at + timedelta(seconds=1)):
        assert engine.bookings_end_due() == 2
        assert engine_tasks.end_due_bookings() == 0  # idempotent
    states = dict(Booking.objects.filter(pk__in=[running.pk, never_ready.pk, later.pk]).values_list("pk", "state"))
    assert states == {running.pk: "completed", never_ready.pk: "failed", later.pk: "confirmed"}
    assert Booking.objects.get(pk=running.pk).reason == "Slice ended."
    assert "not ready before the slice ended" in Booking.objects.get(pk=never_ready.pk).reason


def test_beat_runs_the_engine_end_sweep_and_the_resize_retry(settings):  # type: ignore[no-untyped-def]
    names = {v["task"] for v in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"scheduling.tasks.end_due_bookings", "provisioning.resize_due"} <= names


def test_completed_before_the_hand_over_keeps_its_server(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    """The engine completed the first slice; until provisioning hands the server over nothing else touches it."""
    sent = []
    monkeypatch.setattr(tasks.reclaim_booking, "apply_async", lambda args, **kw: sent.append(args))
    first = booking(renter, sim_offering, seconds=120)
    second = booking(renter, sim_offering, starts_at=first.ends_at, seconds=120)
    server = services.server_launch(booking_id=first.pk)
    with time_machine.travel(first.ends_at + timedelta(seconds=1)):
        engine.bookings_end_due()
        assert Booking.objects.get(pk=first.pk).state == "completed"
        # The reclaim sweep and a reclaim asked for the server itself leave it alone ...
        assert services.reclaim_due() == []
        assert services.server_reclaim(server_id=server.pk, reason="sweep") is None
        assert Server.objects.get(pk=server.pk).state == "active"
        # ... and the next slice does not launch a second server.
        assert services.server_launch(booking_id=second.pk) is None
        # The reaction to on_booking_ended (its message) hands the server over instead of reclaiming it.
        hooks.booking_ended(first.pk, "completed")
        assert sent == [(first.pk, "booking completed")]
        tasks.reclaim_booking.run(*sent[0])
    assert Server.objects.get(pk=server.pk).state == "handed_over"
    new = Server.objects.get(booking=second, state="active")
    assert new.external_id == server.external_id and new.predecessor_id == server.pk
    assert Booking.objects.get(pk=second.pk).state == "running"


def test_hand_over_sweep_catches_a_lost_end_message(sim_offering, renter):  # type: ignore[no-untyped-def]
    first = booking(renter, sim_offering, seconds=120)
    second = booking(renter, sim_offering, starts_at=first.ends_at, seconds=120)
    server = services.server_launch(booking_id=first.pk)
    with time_machine.travel(first.ends_at + timedelta(seconds=1)):
        engine.bookings_end_due()  # its on_booking_ended message is lost (on_commit does not run here)
        assert services.hand_over_or_reclaim_due() == []
    assert Server.objects.get(pk=server.pk).state == "handed_over"
    assert Booking.objects.get(pk=second.pk).state == "running"


def test_a_notice_at_the_end_is_not_handed_over(sim_offering, renter, owner):  # type: ignore[no-untyped-def]

    first = booking(renter, sim_offering, seconds=120)
    second = booking(renter, sim_offering, starts_at=first.ends_at, seconds=120)
    server = services.server_launch(booking_id=first.pk)
    engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=first.pk), notice_seconds=3600)
    with time_machine.travel(first.ends_at + timedelta(seconds=1)):
        engine.bookings_end_due()
        assert Booking.objects.get(pk=first.pk).state == "completed"
        assert services.hand_over_or_reclaim_due() == [server.pk]
    assert Booking.objects.get(pk=second.pk).state == "confirmed"


def test_resize_stuck_after_its_lease_expired_is_retried(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    """The resize message was lost (or its worker died): once the lease expires the sweep sends it again."""
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    server = services.booking_change_profile(actor=renter, booking_id=b.pk, profile_id=medium.pk)
    assert Server.objects.get(pk=server.pk).state == "resizing"
    assert services.resize_due() == []  # the lease still holds: a worker may be at it
    sent = []
    monkeypatch.setattr(tasks.resize_server, "apply_async", lambda args, kwargs=None, **kw: sent.append(args))
    with time_machine.travel(clock.now() + timedelta(seconds=services.lease_seconds() + 1)):
        assert tasks.resize_due() == 1
        assert sent == [(server.pk,)]
        assert services.resize_due() == []  # leased again for the retry
        tasks.resize_server.run(server.pk)
    server.refresh_from_db()
    assert server.state == "active" and server.flavor_name == medium.flavor_name
    assert Booking.objects.get(pk=b.pk).profile_id == medium.pk


def test_the_profile_change_sends_the_resize_on_commit(
    sim_offering, renter, monkeypatch, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sent = []
    monkeypatch.setattr(tasks.resize_server, "apply_async", lambda args, **kw: sent.append(args))
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    with django_capture_on_commit_callbacks(execute=True):
        server = services.booking_change_profile(actor=renter, booking_id=b.pk, profile_id=medium.pk)
        assert sent == []  # not before the commit
    assert sent == [(server.pk,)]
