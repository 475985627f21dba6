"""The demo path end to end: a booking bought through the engine goes provisioning -> running -> completed
on a simulator cloud, driven only by the engine's hooks and provisioning's sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from provisioning import tasks
from provisioning.models import Server, SimulatedResource
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.provisioning.helpers import add_ssh_key, end_due, fund

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_bought_slice_runs_and_completes(
    owner,
    renter,
    fast_simulator,
    monkeypatch,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
):
    run_now = []
    monkeypatch.setattr(
        tasks.deliver_booking, "apply_async", lambda args, **kw: run_now.append((tasks.deliver_booking, args))
    )
    monkeypatch.setattr(tasks.finish_booking, "apply_async", lambda args, **kw: None)
    add_ssh_key(renter)
    fund(renter, 10_000)
    with time_machine.travel(T0 - timedelta(seconds=30), tick=False):
        offer = factories.offering(owner, publish=True)
        with django_capture_on_commit_callbacks(execute=True):
            booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T0, 120))
        assert booking.state == "confirmed"
        # The on_booking_confirmed hook sent the start step (the slice starts within the boot lead).
        assert [(t.name, a) for t, a in run_now] == [("provisioning.deliver_booking", (booking.pk,))]
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.deliver_booking.run(booking.pk) == "launched"
        assert Booking.objects.get(pk=booking.pk).state == "running", Booking.objects.get(pk=booking.pk).reason
    with time_machine.travel(T0 + timedelta(seconds=121), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            ids = end_due()
        assert Booking.objects.get(pk=booking.pk).state == "completed"
        for server_id in ids:
            tasks.reclaim_server.run(server_id)
    server = Server.objects.get(booking=booking)
    assert server.state == "deleted"
    assert server.held_until == T0 + timedelta(seconds=121)
    assert not SimulatedResource.objects.filter(kind="server").exists()
