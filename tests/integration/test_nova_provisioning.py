"""Provisioning against a REAL Nova (deploy/nova/start.sh: Keystone, Placement, Glance, Neutron API, nova-api,
conductor, scheduler, compute with the fake virt driver), driven through the OpenStack driver and a real
Celery worker process. Skipped with the reason when that Nova is not reachable."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import timedelta

import pytest

from billing import integration as billing_integration
from billing.models import BookingCharge
from marketplace.lib import clock
from owners import services as owner_services
from owners.models import SliceProfile
from provisioning import selectors, tasks
from provisioning.drivers import booking_ref, server_name
from provisioning.models import Server
from scheduling import tasks as scheduling_tasks
from scheduling.models import Booking
from tests import factories
from tests.provisioning import nova
from tests.provisioning.helpers import add_ssh_key, booking, ensure_predefined_profiles, fund
from tests.provisioning.worker import Worker, purge_queue, wait_for

_reason = nova.unreachable_reason()
if _reason is not None and os.environ.get("NOVA_REQUIRED"):
    # CI starts the control plane and sets NOVA_REQUIRED: a missing Nova there is a failure, not a skip.
    pytest.fail(f"NOVA_REQUIRED is set but the real Nova is not usable: {_reason}", pytrace=False)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_reason is not None, reason=f"real Nova needed: {_reason}"),
]

WORKER_ENV = {
    "PROVISIONING_NETWORKS": "none",  # the dev Neutron has no agents: boot without a NIC
    "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "60",
    "PROVISIONING_LEASE_MARGIN_SECONDS": "2",
    "METERING_INTERVAL_SECONDS": "1",
    **nova.operator_allowances(),  # plain http to the local Nova: the operator's development allowance
}


@pytest.fixture
def project():  # type: ignore[no-untyped-def]
    proj = nova.new_project()
    yield proj
    proj.cleanup()


@pytest.fixture
def nova_settings(settings, transactional_db):  # type: ignore[no-untyped-def]
    ensure_predefined_profiles()
    settings.PROVISIONING_NETWORKS = "none"
    settings.PROVISIONING_ACTIVE_TIMEOUT_SECONDS = 60
    settings.PROVISIONING_LEASE_MARGIN_SECONDS = 2
    settings.METERING_INTERVAL_SECONDS = 1
    nova.allow_in_settings(settings)
    purge_queue()
    return settings


@pytest.fixture
def nova_offering(owner, project, nova_settings):  # type: ignore[no-untyped-def]
    cloud = factories.cloud(
        owner,
        driver="openstack",
        auth_url=project.auth_url,
        app_credential_id=project.credential_id,
        app_credential_secret=project.credential_secret,
    )
    offer = factories.offering(
        owner, on=cloud, publish=True, allowed_images=[project.image], vcpus=64, ram_mib=262144, disk_gb=2000
    )
    factories.price(owner, offer, profile="Medium")
    return offer


@pytest.fixture
def worker(tmp_path):  # type: ignore[no-untyped-def]
    w = Worker(env=WORKER_ENV, log=tmp_path / "worker.log").start()
    yield w
    w.stop()


def _nova_server(project, booking_id: int):  # type: ignore[no-untyped-def]
    found = [s for s in project.servers() if (s.metadata or {}).get("marketplace_booking") == booking_ref(booking_id)]
    return found[0] if len(found) == 1 else (found or None)


def test_confirmed_booking_active_resized_metered_reclaimed(nova_offering, project, renter, worker):  # type: ignore[no-untyped-def]
    from provisioning import services
    from scheduling import services as engine

    add_ssh_key(renter)
    b = booking(renter, nova_offering, seconds=3600)
    tasks.launch_booking.delay(b.pk)
    wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 90, "the booking to run")
    row = Server.objects.get(booking=b, state="active")
    ns = project.conn.compute.get_server(row.external_id)
    assert ns.status == "ACTIVE" and ns.name == server_name(b.pk)
    assert ns.metadata["marketplace_booking"] == booking_ref(b.pk)
    assert {"marketplace", server_name(b.pk)} <= set(ns.tags)
    assert ns.key_name == row.keypair_name and row.keypair_name.startswith(f"{server_name(b.pk)}-")
    assert ns.flavor["original_name"] == "m1.small"
    assert project.conn.network.find_security_group(row.security_group_name) is not None
    assert [g["name"] for g in ns.security_groups or []] in ([row.security_group_name], [])  # no NIC: none shown
    info = selectors.connection_info(b)
    assert info["ready"] and info["keypair"] == row.keypair_name

    # Launching again never makes a second server.
    tasks.launch_booking.delay(b.pk)
    tasks.launch_due.delay()
    time.sleep(3)
    assert len(project.servers()) == 1

    # Metering: Nova server diagnostics, sampled by the worker.
    tasks.meter_server.delay(row.pk)
    wait_for(lambda: selectors.usage_for_booking(b)["totals"]["samples"] >= 1, 30, "a usage sample")
    sample = selectors.usage_for_booking(b)["samples"][0]
    assert sample["cpu_time_ns"] is not None and sample["disk_write_bytes"] is not None

    # Resize to Medium and confirm.
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    # The service sends provisioning.resize_server on commit (the worker runs it).
    services.booking_change_profile(actor=renter, booking_id=b.pk, profile_id=medium.pk)
    wait_for(
        lambda: (
            Server.objects.get(pk=row.pk).state == "active"
            and Server.objects.get(pk=row.pk).flavor_name == medium.flavor_name
        ),
        90,
        "the resize",
    )
    ns = project.conn.compute.get_server(row.external_id)
    assert ns.status == "ACTIVE" and ns.flavor["original_name"] == medium.flavor_name

    # Release -> the engine's hook enqueues the reclaim -> gone from Nova with its key pair and security group.
    engine.booking_release(actor=renter, booking_id=b.pk)
    wait_for(lambda: Server.objects.get(pk=row.pk).state == "deleted", 90, "the reclaim")
    assert project.servers() == []
    assert project.conn.compute.find_keypair(row.keypair_name, ignore_missing=True) is None
    assert project.conn.network.find_security_group(row.security_group_name, ignore_missing=True) is None
    assert Booking.objects.get(pk=b.pk).state == "released"


@pytest.mark.parametrize(
    ("vcpus", "ram_mib", "expected"),
    [
        (18, 8192, "no room"),  # within the project's quota (20 cores), bigger than the 16-vCPU host: NoValidHost
        (48, 131072, "quota is used up"),  # beyond the project's quota: Nova refuses at once (403)
    ],
    ids=["no-valid-host", "quota"],
)
def test_full_host_fails_booking_with_readable_reason(
    nova_offering,
    project,
    renter,
    owner,
    worker,
    vcpus,
    ram_mib,  # type: ignore[no-untyped-def]
    expected,
):
    flavor = f"mkt.it.{vcpus}c"
    huge = owner_services.profile_create(
        actor=owner,
        name=f"Huge {vcpus}",
        vcpus=vcpus,
        ram_mib=ram_mib,
        disk_gb=20,
        bandwidth_mbps=0,
        flavor_name=flavor,
    )
    factories.price(owner, nova_offering, profile=huge)
    b = booking(renter, nova_offering, profile=huge, seconds=3600)
    # Billing holds the price, as its on_booking_confirmed hook does for a booking the engine confirms.
    fund(renter, 100_000)
    billing_integration.hold_for_booking(b.pk)
    assert BookingCharge.objects.get(booking_id=b.pk).state == "held"
    tasks.launch_booking.delay(b.pk)
    wait_for(lambda: Booking.objects.get(pk=b.pk).state == "failed", 90, "the booking to fail")
    b.refresh_from_db()
    assert expected in b.reason and "refunded" in b.reason
    # The engine's on_booking_ended(failed) reached billing (in the worker): nothing is charged.
    wait_for(
        lambda: BookingCharge.objects.filter(booking_id=b.pk, charged_amount__isnull=False).exists(),
        60,
        "billing to settle the failed booking",
    )
    charge = BookingCharge.objects.get(booking_id=b.pk)
    assert charge.charged_amount == 0 and charge.outcome == "failed"
    wait_for(lambda: not Server.objects.filter(booking=b).exclude(state="deleted").exists(), 60, "cleanup")
    assert project.servers() == []
    with contextlib.suppress(Exception):
        project.conn.compute.delete_flavor(project.conn.compute.find_flavor(flavor), ignore_missing=True)


def test_orphan_server_is_deleted_by_the_reconciler(nova_offering, project, renter, worker):  # type: ignore[no-untyped-def]
    b = booking(renter, nova_offering, seconds=3600)
    tasks.launch_booking.delay(b.pk)
    wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 90, "the booking to run")
    kept = Server.objects.get(booking=b, state="active").external_id
    conn = project.conn
    flavor = conn.compute.find_flavor("m1.small")
    image = conn.image.find_image(project.image)
    orphan = conn.compute.create_server(
        name="mkt-booking-987654",
        flavor_id=flavor.id,
        image_id=image.id,
        networks="none",
        metadata={"marketplace_booking": "987654"},
        tags=["marketplace", "mkt-booking-987654"],
    )
    conn.compute.wait_for_server(orphan, wait=60)
    tasks.reconcile.delay()
    wait_for(lambda: [s.id for s in project.servers()] == [kept], 90, "the orphan to be deleted")


def test_worker_killed_mid_launch_on_nova_leaves_one_server(nova_offering, project, renter, tmp_path):  # type: ignore[no-untyped-def]
    b = booking(renter, nova_offering, seconds=3600)
    first = Worker(env=WORKER_ENV, log=tmp_path / "w1.log").start()
    try:
        tasks.launch_booking.delay(b.pk)
        wait_for(
            lambda: Server.objects.filter(booking=b, external_id__isnull=False).exists(),
            60,
            "the server to be created in Nova",
            interval=0.02,
        )
        first.kill()
    finally:
        first.stop()
    second = Worker(env=WORKER_ENV, log=tmp_path / "w2.log").start()
    try:

        def running() -> bool:
            tasks.launch_due.delay()
            try:
                return bool(wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 3, "running"))
            except AssertionError:
                return False

        wait_for(running, 120, "the sweep to finish the launch", interval=1)
        assert len(project.servers()) == 1
        assert project.servers()[0].id == Server.objects.get(booking=b, state="active").external_id
        # The slice ends (moved to the past): the engine's end sweep completes it, the reclaim empties Nova.
        Booking.objects.filter(pk=b.pk).update(
            ends_at=clock.now() - timedelta(seconds=1), starts_at=clock.now() - timedelta(seconds=3600)
        )
        scheduling_tasks.end_due_bookings.delay()
        tasks.reclaim_due.delay()
        wait_for(lambda: not project.servers(), 90, "the reclaim")
    finally:
        second.stop()
    assert Booking.objects.get(pk=b.pk).state == "completed"


def test_server_deleted_behind_our_back_fails_and_refunds(nova_offering, project, renter, worker):  # type: ignore[no-untyped-def]
    fund(renter, 100_000)
    b = booking(renter, nova_offering, seconds=3600)
    billing_integration.hold_for_booking(b.pk)
    tasks.launch_booking.delay(b.pk)
    wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 90, "the booking to run")
    row = Server.objects.get(booking=b, state="active")
    project.conn.compute.delete_server(row.external_id)  # someone deletes it in the cloud
    project.conn.compute.wait_for_delete(project.conn.compute.get_server(row.external_id), wait=60)
    # The reconciler is a periodic sweep: send it as beat would until it has acted (or 3 minutes pass).
    deadline = time.monotonic() + 180
    while Booking.objects.get(pk=b.pk).state != "failed" and time.monotonic() < deadline:
        tasks.reconcile.delay()
        with contextlib.suppress(AssertionError):
            wait_for(lambda: Booking.objects.get(pk=b.pk).state == "failed", 10, "the reconciler")
    assert Booking.objects.get(pk=b.pk).state == "failed", "the reconciler did not fail the booking in 3 minutes"
    b.refresh_from_db()
    assert "vanished" in b.reason and "refunded" in b.reason
    wait_for(lambda: Server.objects.get(pk=row.pk).state == "deleted", 60, "the clean-up")
    assert project.conn.network.find_security_group(row.security_group_name, ignore_missing=True) is None
    wait_for(
        lambda: BookingCharge.objects.filter(booking_id=b.pk, charged_amount__isnull=False).exists(),
        60,
        "billing to settle",
    )
    charge = BookingCharge.objects.get(booking_id=b.pk)
    assert charge.outcome == "failed" and charge.charged_amount < charge.price
