"""The engine's hooks reach provisioning; the tasks are thin and retry only transient cloud errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.lib import clock
from provisioning import hooks, services, tasks
from provisioning.drivers import CloudError
from scheduling import hooks as engine_hooks
from tests.provisioning.helpers import booking

pytestmark = pytest.mark.django_db


def test_registered_with_the_engine():  # type: ignore[no-untyped-def]
    assert hooks.booking_confirmed in engine_hooks.receivers("on_booking_confirmed")
    assert hooks.booking_ended in engine_hooks.receivers("on_booking_ended")


def test_confirmed_hook_launches_only_when_due(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    sent = []
    monkeypatch.setattr(tasks.launch_booking, "apply_async", lambda args, **kw: sent.append(args))
    soon = booking(renter, sim_offering, starts_at=clock.now() + timedelta(seconds=10))
    later = booking(renter, sim_offering, starts_at=clock.now() + timedelta(hours=2))
    hooks.booking_confirmed(soon.pk)
    hooks.booking_confirmed(later.pk)
    assert sent == [(soon.pk,)]


def test_ended_hook_reclaims_live_servers_only(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    sent = []
    monkeypatch.setattr(tasks.reclaim_booking, "apply_async", lambda args, **kw: sent.append(args))
    b = booking(renter, sim_offering)
    hooks.booking_ended(b.pk, "released")
    assert sent == []
    services.server_launch(booking_id=b.pk)
    hooks.booking_ended(b.pk, "released")
    assert sent == [(b.pk, "booking released")]


def test_broker_down_does_not_break_the_engine(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.launch_booking, "apply_async", boom)
    hooks.booking_confirmed(booking(renter, sim_offering).pk)  # logged; the sweep finds it


def test_tasks_retry_transient_errors_only(monkeypatch):  # type: ignore[no-untyped-def]
    def transient(**kw):  # type: ignore[no-untyped-def]
        raise CloudError("503", transient=True)

    def permanent(**kw):  # type: ignore[no-untyped-def]
        raise CloudError("no such image")

    assert tasks.launch_booking.acks_late and CloudError in tasks.launch_booking.autoretry_for
    monkeypatch.setattr(services, "server_launch", transient)
    with pytest.raises(CloudError):
        tasks.launch_booking.run(1)
    monkeypatch.setattr(services, "server_launch", permanent)
    assert tasks.launch_booking.run(1) is None


def test_beat_schedule_has_the_provisioning_sweeps(settings):  # type: ignore[no-untyped-def]
    names = {v["task"] for v in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "provisioning.launch_due",
        "provisioning.reclaim_due",
        "provisioning.reconcile",
        "provisioning.meter",
    } <= names


def test_launch_due_is_shared_between_sweepers(sim_offering, renter):  # type: ignore[no-untyped-def]
    """A row locked by one sweeper (select_for_update) is skipped by another (skip_locked)."""
    import threading

    from django.db import connection, transaction

    from scheduling.models import Booking

    a = booking(renter, sim_offering)
    b = booking(renter, sim_offering)
    if connection.in_atomic_block:
        # Under the test transaction another thread cannot see these rows; the SQL is checked instead.
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            ids = services.launch_due()
        assert set(ids) == {a.pk, b.pk}
        assert any("FOR UPDATE SKIP LOCKED" in q["sql"] for q in ctx.captured_queries)
        return
    with transaction.atomic():
        Booking.objects.select_for_update().filter(pk=a.pk).get()
        result = []
        t = threading.Thread(target=lambda: result.extend(services.launch_due()))
        t.start()
        t.join()
    assert result == [b.pk]
