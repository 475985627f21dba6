"""A real Celery worker killed by SIGKILL in the middle of a launch and of a reclaim leaves nothing behind
once the sweeps have run (simulator driver; tests/integration/test_nova_* do the same against a real Nova)."""

from __future__ import annotations

import pytest

from provisioning import tasks
from provisioning.models import Server, SimulatedResource
from scheduling.models import Booking
from tests.provisioning.helpers import add_ssh_key, booking, ensure_predefined_profiles
from tests.provisioning.worker import Worker, purge_queue, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration, pytest.mark.slow]

WORKER_ENV = {
    "SIMULATOR_LAUNCH_SECONDS": "8",
    "SIMULATOR_DELETE_SECONDS": "8",
    "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "30",
    "PROVISIONING_DELETE_TIMEOUT_SECONDS": "30",
    "PROVISIONING_LEASE_MARGIN_SECONDS": "1",
}


@pytest.fixture
def worker_env(settings, transactional_db):  # type: ignore[no-untyped-def]
    ensure_predefined_profiles()
    # The test process reads the same timings (its sweeps judge leases like the worker does).
    settings.PROVISIONING_ACTIVE_TIMEOUT_SECONDS = 3
    settings.PROVISIONING_LEASE_MARGIN_SECONDS = 1
    settings.SIMULATOR_LAUNCH_SECONDS = 8
    settings.SIMULATOR_DELETE_SECONDS = 8
    purge_queue()
    return WORKER_ENV


def test_worker_killed_mid_launch_and_mid_reclaim_leaves_nothing(owner, renter, worker_env, tmp_path):  # type: ignore[no-untyped-def]
    from tests import factories

    offering = factories.offering(owner, publish=True)
    add_ssh_key(renter)
    b = booking(renter, offering, seconds=3600)
    cloud = offering.cloud

    first = Worker(env={**worker_env, "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "10"}, log=tmp_path / "w1.log").start()
    try:
        tasks.launch_booking.delay(b.pk)
        # The worker created the cloud server and is waiting for ACTIVE: kill it there.
        wait_for(
            lambda: Server.objects.filter(booking=b, state="building", external_id__isnull=False).exists(),
            30,
            "the launch to reach the cloud",
        )
        first.kill()
    finally:
        first.stop()
    row = Server.objects.get(booking=b)
    assert row.state == "building" and row.lease_until is not None
    assert Booking.objects.get(pk=b.pk).state == "provisioning"

    # A new worker; the beat's sweep finds the dead launch once its lease expires and adopts the server.
    second = Worker(env={**worker_env, "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "3"}, log=tmp_path / "w2.log").start()
    try:

        def running() -> bool:
            tasks.launch_due.delay()
            try:
                return bool(wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 3, "running"))
            except AssertionError:
                return False

        wait_for(running, 60, "the sweep to finish the launch", interval=1)
        servers = SimulatedResource.objects.filter(cloud=cloud, kind="server")
        assert servers.count() == 1
        row = Server.objects.get(booking=b, state="active")
        assert row.external_id == servers.get().external_id

        # Now the renter releases; kill the worker while it waits for the cloud to delete.
        from scheduling import services as engine

        engine.booking_release(actor=renter, booking_id=b.pk)
        tasks.reclaim_booking.delay(b.pk, "released")
        wait_for(
            lambda: (
                Server.objects.filter(pk=row.pk, state="deleting").exists()
                and SimulatedResource.objects.filter(external_id=row.external_id, status="DELETING").exists()
            ),
            30,
            "the reclaim to reach the cloud",
        )
        second.kill()
    finally:
        second.stop()
    assert Server.objects.get(pk=row.pk).state == "deleting"
    assert SimulatedResource.objects.filter(cloud=cloud, kind="secgroup").exists()  # left behind by the kill

    third = Worker(env=worker_env, log=tmp_path / "w3.log").start()
    try:

        def reclaimed() -> bool:
            tasks.reclaim_due.delay()
            try:
                return bool(wait_for(lambda: Server.objects.get(pk=row.pk).state == "deleted", 3, "deleted"))
            except AssertionError:
                return False

        wait_for(reclaimed, 90, "the sweep to finish the reclaim", interval=1)
    finally:
        third.stop()
    assert not SimulatedResource.objects.filter(cloud=cloud).exclude(kind="flavor").exists()
    assert Booking.objects.get(pk=b.pk).state == "released"
    assert Server.objects.filter(state__in=["pending", "building", "active", "deleting", "error"]).count() == 0
