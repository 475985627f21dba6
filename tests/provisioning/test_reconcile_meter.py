"""Reconciler, metering and the usage selector, through the simulator driver."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from audit.models import DomainEvent
from marketplace.lib import clock
from provisioning import selectors, services
from provisioning.drivers import LaunchSpec, booking_ref, driver_for, server_name
from provisioning.models import Server, SimulatedResource, UsageSample
from tests.provisioning.helpers import add_ssh_key, booking

pytestmark = pytest.mark.django_db


def _orphan(cloud, booking_id: int):  # type: ignore[no-untyped-def]
    return driver_for(cloud).create_server(
        LaunchSpec(
            name=server_name(booking_id),
            booking_id=booking_id,
            flavor_id="f",
            image_id="i",
            keypair_name=None,
            security_group_name=None,
            metadata={"marketplace_booking": booking_ref(booking_id)},
            tags=["marketplace", server_name(booking_id)],
        )
    )


def test_orphan_server_is_deleted_and_audited(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    server = services.server_launch(booking_id=b.pk)
    orphan = _orphan(sim_offering.cloud, 999999)
    result = services.reconcile()
    assert result.orphans_deleted == [orphan.id]
    assert list(SimulatedResource.objects.filter(kind="server").values_list("external_id", flat=True)) == [
        server.external_id
    ]
    assert DomainEvent.objects.filter(verb="server.orphan_deleted", data__external_id=orphan.id).exists()
    assert services.reconcile().orphans_deleted == []


def test_server_of_a_launch_in_progress_is_not_an_orphan(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    services.launch_prepare(booking_id=b.pk)  # intent recorded, cloud id not yet
    _orphan(sim_offering.cloud, b.pk)
    assert services.reconcile().orphans_deleted == []


def test_vanished_server_fails_the_booking(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    server = services.server_launch(booking_id=b.pk)
    SimulatedResource.objects.filter(external_id=server.external_id).delete()
    result = services.reconcile()
    assert result.bookings_failed == [b.pk]
    b.refresh_from_db()
    server.refresh_from_db()
    assert b.state == "failed" and "vanished" in b.reason and "refunded" in b.reason
    assert server.state == "deleted"
    assert DomainEvent.objects.filter(verb="server.lost", target_id=str(server.pk)).exists()


def test_errored_server_fails_the_booking(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    server = services.server_launch(booking_id=b.pk)
    SimulatedResource.objects.filter(external_id=server.external_id).update(status="ERROR")
    services.reconcile()
    b.refresh_from_db()
    assert b.state == "failed" and "ERROR" in b.reason
    assert not SimulatedResource.objects.filter(kind="server").exists()


def test_metering_samples_and_usage_totals(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering, seconds=600)
    t0 = b.starts_at
    with time_machine.travel(t0, tick=False):
        server = services.server_launch(booking_id=b.pk)  # the launch takes the start reading
        assert services.meter_due() == [server.pk]
        assert services.server_meter(server_id=server.pk) is None  # younger than the interval
    with time_machine.travel(t0 + timedelta(seconds=60), tick=False):
        services.server_meter(server_id=server.pk)
    with time_machine.travel(t0 + timedelta(seconds=120), tick=False):
        services.server_meter(server_id=server.pk)
        usage = selectors.usage_for_booking(b)
    assert len(usage["samples"]) == 3
    assert usage["seconds_held"] == 120
    assert usage["totals"]["cpu_time_ns"] == int(120 * 0.35e9)
    assert usage["totals"]["net_rx_bytes"] == 120 * 1500
    assert usage["totals"]["samples"] == 3
    assert UsageSample.objects.filter(booking=b).first().raw["cpu0_time"] == 0


def test_usage_is_empty_before_launch(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering, starts_at=clock.now() + timedelta(hours=1))
    assert selectors.usage_for_booking(b) == {
        "samples": [],
        "series": [],
        "seconds_held": 0,
        "totals": {
            "cpu_time_ns": 0,
            "cpu_seconds": 0,
            "disk_read_bytes": 0,
            "disk_write_bytes": 0,
            "net_rx_bytes": 0,
            "net_tx_bytes": 0,
            "memory_mib_peak": 0,
            "seconds_active": 0,
            "seconds_metered": 0,
            "samples": 0,
        },
        "unavailable": {},
        "unavailable_by_reason": [],
    }


def test_servers_visible_only_to_renter_owner_staff(sim_offering, renter, owner, other_owner, staff):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    assert selectors.servers_visible_to(renter).count() == 1
    assert selectors.servers_visible_to(owner).count() == 1
    assert selectors.servers_visible_to(staff).count() == 1
    assert selectors.servers_visible_to(other_owner).count() == 0
    assert Server.objects.count() == 1


def test_leftover_keypairs_and_groups_are_deleted(sim_offering, renter):  # type: ignore[no-untyped-def]
    add_ssh_key(renter)
    live = services.server_launch(booking_id=booking(renter, sim_offering).pk)
    ended = services.server_launch(booking_id=booking(renter, sim_offering).pk)
    services.server_reclaim(server_id=ended.pk)
    drv = driver_for(sim_offering.cloud)
    # A reclaim that could not finish its clean-up, and names this installation never made.
    drv.ensure_keypair(name=ended.keypair_name, public_key="ssh-ed25519 AAAA")
    drv.ensure_security_group(name=ended.security_group_name, description="left behind")
    drv.ensure_keypair(name="mkt-booking-424242-abcdef", public_key="ssh-ed25519 AAAA")
    result = services.reconcile()
    assert sorted(result.leftovers_deleted) == [
        f"keypair:{ended.keypair_name}",
        f"security_group:{ended.security_group_name}",
    ]
    assert sorted(drv.list_marketplace_keypairs()) == sorted([live.keypair_name, "mkt-booking-424242-abcdef"])
    assert drv.list_marketplace_security_groups() == [live.security_group_name]
