"""The timing rules with a real Celery worker on the simulator (boot 2 s, rebuild 1 s): slices bought through
the engine start and end at their instants, not at a sweep. bench/delivery.py measures the same at scale."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from marketplace.lib import clock
from owners import services as owner_services
from owners.models import SliceProfile
from provisioning import services
from provisioning.models import Server, SimulatedResource
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.provisioning.helpers import add_ssh_key, fund
from tests.provisioning.worker import Worker, purge_queue, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ENV = {
    "SIMULATOR_LAUNCH_SECONDS": "2",
    "SIMULATOR_REBUILD_SECONDS": "1",
    "SIMULATOR_POLL_SECONDS": "0.05",
    "PROVISIONING_REBUILD_ESTIMATE_SECONDS": "1",
    "PROVISIONING_TRANSFER_MARGIN_SECONDS": "0.3",
    "PROVISIONING_LEAD_SECONDS": "10",
    "PROVISIONING_POLL_SECONDS": "0.1",
    "MARKETPLACE_ALLOW_SIMULATOR": "true",
}


def test_back_to_back_five_second_slices_start_and_end_at_their_instants(owner, settings, tmp_path):  # type: ignore[no-untyped-def]
    for key, value in ENV.items():
        setattr(settings, key, float(value) if key.endswith("_SECONDS") else value)
    purge_queue()
    small = SliceProfile.objects.get(owner=None, name="Small")
    offer = factories.offering(
        owner, publish=True, vcpus=2, ram_mib=4096, disk_gb=40, bandwidth_mbps=500,
        grid_seconds=5, min_length_seconds=5, max_length_seconds=600,
    )  # fmt: skip
    pool = owner_services.standby_pool_set(actor=owner, offering=offer, profile=small, size=1)
    services.pool_refill(pool_id=pool.pk)
    renters = []
    for n in range(2):
        r = factories.renter(email=f"timing{n}@example.test")
        add_ssh_key(r)
        fund(r, 100_000)
        renters.append(r)
    peak = {"n": 0}
    stop = threading.Event()

    def watch() -> None:
        from django.db import connection

        while not stop.wait(0.05):
            peak["n"] = max(peak["n"], SimulatedResource.objects.filter(cloud=offer.cloud, kind="server").count())
        connection.close()

    worker = Worker(env=ENV, log=tmp_path / "worker.log", concurrency=4).start()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        now = clock.now()
        t0 = now.replace(microsecond=0) + timedelta(seconds=8)
        t0 += timedelta(seconds=(5 - t0.second % 5) % 5)
        bookings = [
            engine.booking_request(
                actor=renters[i % 2], slice_id=factories.slice_id(offer, t0 + timedelta(seconds=5 * i), 5)
            )
            for i in range(4)
        ]
        assert all(b.state == "confirmed" for b in bookings)
        last = bookings[-1]
        wait_for(
            lambda: (
                Booking.objects.get(pk=last.pk).state == "completed"
                and not Server.objects.filter(booking=last).exclude(state__in=["handed_over", "deleted"]).exists()
            ),
            60,
            "the last slice to end and leave its renter",
            interval=0.2,
        )
    finally:
        stop.set()
        watcher.join(5)
        worker.stop()
    for b in bookings:
        rows = list(Server.objects.filter(booking=b))
        usable = min(r.active_at for r in rows if r.active_at)
        revoked = max(r.revoked_at for r in rows if r.revoked_at)
        # Started on a standby server rebuilt ahead (or the one the slice before left, within a rebuild),
        # ended within a second of the slice's end: not at a 10-second sweep.
        assert (usable - b.starts_at).total_seconds() <= 1.0 + 1.0, (b.pk, usable, b.starts_at)
        assert 0 <= (revoked - b.ends_at).total_seconds() <= 1.0, (b.pk, revoked, b.ends_at)
        assert Booking.objects.get(pk=b.pk).state == "completed"
        assert sum(r.seconds_held() for r in rows) >= 3
    assert peak["n"] <= 2  # the offering's capacity: two Small servers
