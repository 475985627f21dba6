"""The engine's hooks reach provisioning; the tasks are thin and retry only transient cloud errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from marketplace.lib import clock
from provisioning import hooks, services, tasks
from provisioning.drivers import CloudError
from scheduling import hooks as engine_hooks
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import add_ssh_key, booking, fund

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_registered_with_the_engine():  # type: ignore[no-untyped-def]
    assert hooks.booking_confirmed in engine_hooks.receivers("on_booking_confirmed")
    assert hooks.booking_ended in engine_hooks.receivers("on_booking_ended")


def test_confirmed_hook_schedules_the_start_and_end_at_their_instants(  # type: ignore[no-untyped-def]
    sim_offering, renter, monkeypatch, django_capture_on_commit_callbacks
):
    """The start step is sent at once for a slice within the boot lead, with an ETA for one within the
    horizon, not at all beyond it (the beat sends it later); the end step carries the slice's end as its ETA."""
    sent: list[tuple[str, tuple, object]] = []
    for task in (tasks.deliver_booking, tasks.finish_booking):
        monkeypatch.setattr(
            task, "apply_async", lambda args, _n=task.name, **kw: sent.append((_n, args, kw.get("eta")))
        )
    soon = booking(renter, sim_offering, starts_at=clock.now() + timedelta(seconds=10), seconds=120)
    near = booking(renter, sim_offering, starts_at=clock.now() + timedelta(seconds=300), seconds=120)
    later = booking(renter, sim_offering, starts_at=clock.now() + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        for b in (soon, near, later):
            hooks.booking_confirmed(b.pk)
    assert ("provisioning.deliver_booking", (soon.pk,), None) in sent
    assert ("provisioning.finish_booking", (soon.pk,), soon.ends_at) in sent
    assert (
        "provisioning.deliver_booking",
        (near.pk,),
        near.starts_at - timedelta(seconds=services.lead_seconds()),
    ) in sent
    assert not [s for s in sent if s[1] == (later.pk,)]
    with django_capture_on_commit_callbacks(execute=True):
        hooks.booking_confirmed(soon.pk)  # sent again (a beat pass, a retry): not queued twice
    assert len([s for s in sent if s[1] == (soon.pk,)]) == 2


def test_ended_hook_reclaims_live_servers_only(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    sent = []
    monkeypatch.setattr(tasks.reclaim_booking, "apply_async", lambda args, **kw: sent.append(args))
    b = booking(renter, sim_offering)
    hooks.booking_ended(b.pk, "released")
    assert sent == []
    services.server_launch(booking_id=b.pk)
    hooks.booking_ended(b.pk, "released")
    assert sent == [(b.pk, "booking released")]


@pytest.mark.django_db(transaction=True)  # the hooks run on a real commit, inside the request, as in production
def test_broker_down_does_not_break_the_engine(sim_offering, renter, monkeypatch):  # type: ignore[no-untyped-def]
    """With the broker down, a renter who buys a slice starting now sees what they would with it up: the
    request answers 201, the booking is confirmed in their API list and on "My bookings"; the launch sweep
    launches it once messages flow again."""

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.deliver_booking, "apply_async", boom)
    monkeypatch.setattr(tasks.finish_booking, "apply_async", boom)
    add_ssh_key(renter)
    fund(renter, 10_000)
    api = APIClient()
    api.force_authenticate(renter)
    with time_machine.travel(T0 - timedelta(seconds=30), tick=False):
        sid = factories.slice_id(sim_offering, T0, 600)
        r = api.post(f"/api/v1/timeslots/{sid}/request", {}, format="json")  # the launch could not be sent
        assert r.status_code == 201, r.content
        assert r.json()["state"] == "confirmed"
        listed = api.get("/api/v1/bookings").json()["results"]
        assert [(b["id"], b["state"]) for b in listed] == [(r.json()["id"], "confirmed")]
        page = login(renter).get("/market/bookings/")
        assert page.status_code == 200
        assert "Confirmed" in page.content.decode() and sim_offering.name in page.content.decode()

        # The broker is back: the beat's launch sweep finds the booking and the worker launches it.
        monkeypatch.setattr(
            tasks.deliver_booking, "apply_async", lambda args=(), kwargs=None, **kw: tasks.deliver_booking.run(*args)
        )
        assert tasks.launch_due() == 1
        listed = api.get("/api/v1/bookings").json()["results"]
        assert [(b["id"], b["state"]) for b in listed] == [(r.json()["id"], "running")]
        assert tasks.launch_due() == 0  # launched once


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
