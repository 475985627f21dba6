"""Launch, hand over, resize, reclaim through the simulator driver (same protocol as OpenStack)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from audit.models import DomainEvent
from marketplace.lib import clock
from owners.models import SliceProfile
from provisioning import selectors, services
from provisioning.drivers import booking_ref, server_name
from provisioning.models import Server, SimulatedResource
from scheduling.models import Booking
from tests.provisioning.helpers import add_ssh_key, booking, end_due

pytestmark = pytest.mark.django_db


def sim_servers(cloud):  # type: ignore[no-untyped-def]
    return SimulatedResource.objects.filter(cloud=cloud, kind="server")


def test_the_cloud_sees_no_booking_id_and_no_renter(sim_offering, renter):  # type: ignore[no-untyped-def]
    """What the owner's cloud (and its other tenants) can read of a renter's server: its name, tags,
    metadata, key pair and security group carry an opaque keyed reference, never the sequential
    booking id, the renter's email or handle."""
    add_ssh_key(renter)
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    (cs,) = sim_servers(sim_offering.cloud)
    seen = [cs.name, cs.data["key_name"], cs.data["security_group"], *cs.data["tags"], *cs.data["metadata"].values()]
    for made in SimulatedResource.objects.filter(cloud=sim_offering.cloud, kind__in=("keypair", "secgroup")):
        seen += [made.name, made.data.get("description", "")]
    standalone_id = re.compile(rf"(?<![0-9a-z]){b.pk}(?![0-9a-z])")
    for text in seen:
        assert not standalone_id.search(str(text)), text
        assert renter.email not in str(text) and (renter.handle or renter.email) not in str(text)
    assert booking_ref(b.pk) != booking_ref(b.pk + 1)
    assert cs.data["metadata"]["marketplace_booking"] == booking_ref(b.pk)


def test_launch_records_intent_then_runs(sim_offering, renter):  # type: ignore[no-untyped-def]
    add_ssh_key(renter)
    b = booking(renter, sim_offering)
    server = services.server_launch(booking_id=b.pk)
    b.refresh_from_db()
    assert b.state == "running"
    assert server.state == "active" and server.name == server_name(b.pk)
    assert server.external_id and server.held_from is not None
    assert server.flavor_name == "m1.small" and server.image_name == "ubuntu-24.04"
    (cs,) = sim_servers(sim_offering.cloud)
    assert cs.data["metadata"]["marketplace_booking"] == booking_ref(b.pk)
    assert server_name(b.pk) in cs.data["tags"] and "marketplace" in cs.data["tags"]
    assert cs.data["key_name"] == server.keypair_name and server.keypair_name.startswith(f"{server_name(b.pk)}-")
    assert cs.data["security_group"] == server.security_group_name
    assert SimulatedResource.objects.filter(kind="keypair", name=server.keypair_name).exists()
    verbs = list(DomainEvent.objects.filter(target_id=str(server.pk)).values_list("verb", flat=True))
    assert {"server.launch_requested", "server.created", "server.active"} <= set(verbs)
    info = selectors.connection_info(b)
    assert info["ready"] and info["ssh"].startswith("ssh ubuntu@198.51.100.")


def test_launch_twice_never_makes_two_servers(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    first = services.server_launch(booking_id=b.pk)
    second = services.server_launch(booking_id=b.pk)
    assert first.pk == second.pk
    assert sim_servers(sim_offering.cloud).count() == 1
    assert Server.objects.filter(booking=b).count() == 1


def test_relaunch_after_a_dead_worker_adopts_the_cloud_server(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    prepared = services.launch_prepare(booking_id=b.pk)
    # The worker created the server in the cloud, then died before recording its id.
    from provisioning.drivers import LaunchSpec, driver_for

    drv = driver_for(sim_offering.cloud)
    ghost = drv.create_server(
        LaunchSpec(
            name=prepared.server.name,
            booking_id=b.pk,
            flavor_id="x",
            image_id="y",
            keypair_name=None,
            security_group_name=None,
            metadata={"marketplace_booking": booking_ref(b.pk)},
            tags=["marketplace", server_name(b.pk)],
        )
    )
    assert services.launch_due() == []  # the lease still holds
    with time_machine.travel(clock.now() + timedelta(seconds=services.lease_seconds() + 1)):
        assert services.launch_due() == [b.pk]
        server = services.server_launch(booking_id=b.pk)
    assert server.external_id == ghost.id
    assert sim_servers(sim_offering.cloud).count() == 1
    assert DomainEvent.objects.filter(verb="server.adopted", target_id=str(server.pk)).exists()


def test_launch_waits_for_lead_time(sim_offering, renter, settings):  # type: ignore[no-untyped-def]
    settings.PROVISIONING_LEAD_SECONDS = 30
    later = booking(renter, sim_offering, starts_at=clock.now() + timedelta(seconds=300))
    soon = booking(renter, sim_offering, starts_at=clock.now() + timedelta(seconds=20))
    assert services.launch_due() == [soon.pk]
    with time_machine.travel(clock.now() + timedelta(seconds=280)):
        assert later.pk in services.launch_due()


def test_capacity_error_fails_booking_with_readable_reason(sim_offering, renter, settings):  # type: ignore[no-untyped-def]
    settings.SIMULATOR_FAIL_RATE = 1
    settings.SIMULATOR_FAIL_MODE = "no_valid_host"
    b = booking(renter, sim_offering)
    server = services.server_launch(booking_id=b.pk)
    b.refresh_from_db()
    assert b.state == "failed"
    assert "no room" in b.reason and "refunded" in b.reason
    assert server.state == "deleted"
    assert not sim_servers(sim_offering.cloud).exists()
    assert not SimulatedResource.objects.filter(kind__in=["keypair", "secgroup"]).exists()


def test_server_error_fails_booking_and_cleans_up(sim_offering, renter, settings):  # type: ignore[no-untyped-def]
    settings.SIMULATOR_FAIL_RATE = 1
    settings.SIMULATOR_FAIL_MODE = "error"
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    b.refresh_from_db()
    assert b.state == "failed" and "could not be started" in b.reason
    assert not sim_servers(sim_offering.cloud).exists()


def test_slice_end_completes_and_reclaims(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering, seconds=120)
    server = services.server_launch(booking_id=b.pk)
    with time_machine.travel(b.ends_at + timedelta(seconds=1)):
        ids = end_due()
        assert ids == [server.pk]
        services.server_reclaim(server_id=server.pk)
    b.refresh_from_db()
    server.refresh_from_db()
    assert b.state == "completed"
    assert server.state == "deleted" and server.deleted_at is not None
    assert not SimulatedResource.objects.filter(cloud=sim_offering.cloud).exclude(kind="flavor").exists()


def test_release_reclaims_and_stops_the_clock(sim_offering, renter):  # type: ignore[no-untyped-def]
    from scheduling import services as engine

    b = booking(renter, sim_offering, seconds=600)
    with time_machine.travel(b.starts_at, tick=False):
        server = services.server_launch(booking_id=b.pk)
    with time_machine.travel(b.starts_at + timedelta(seconds=100), tick=False):
        engine.booking_release(actor=renter, booking_id=b.pk)
        assert services.reclaim_due() == [server.pk]
        services.server_reclaim(server_id=server.pk)
    with time_machine.travel(b.starts_at + timedelta(seconds=500), tick=False):
        assert selectors.seconds_held(b) == 100
    b.refresh_from_db()
    assert b.state == "released"


def test_preemption_deadline_reclaims(sim_offering, renter, owner):  # type: ignore[no-untyped-def]
    from scheduling import services as engine

    b = booking(renter, sim_offering, seconds=600)
    server = services.server_launch(booking_id=b.pk)
    engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=b.pk), notice_seconds=30)
    assert end_due() == []  # still within the notice
    with time_machine.travel(clock.now() + timedelta(seconds=31)):
        assert end_due() == [server.pk]
        services.server_reclaim(server_id=server.pk)
    b.refresh_from_db()
    assert b.state == "preempted"
    assert not sim_servers(sim_offering.cloud).exists()


def test_adjacent_slices_keep_the_same_server(sim_offering, renter):  # type: ignore[no-untyped-def]
    first = booking(renter, sim_offering, seconds=120)
    second = booking(renter, sim_offering, starts_at=first.ends_at, seconds=120)
    server = services.server_launch(booking_id=first.pk)
    with time_machine.travel(second.starts_at - timedelta(seconds=30)):
        assert second.pk in services.launch_due()
        assert services.server_launch(booking_id=second.pk) is None  # waits for the hand-over
    with time_machine.travel(first.ends_at + timedelta(seconds=1)):
        assert end_due() == []  # nothing to reclaim: handed over
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == ("completed", "running")
    new = Server.objects.get(booking=second, state="active")
    assert new.external_id == server.external_id and new.predecessor_id == server.pk
    assert Server.objects.get(pk=server.pk).state == "handed_over"
    (cs,) = sim_servers(sim_offering.cloud)
    assert cs.data["metadata"]["marketplace_booking"] == booking_ref(second.pk)
    with time_machine.travel(second.ends_at + timedelta(seconds=1)):
        ids = end_due()
        assert ids == [new.pk]
        services.server_reclaim(server_id=new.pk)
    assert not sim_servers(sim_offering.cloud).exists()
    assert selectors.seconds_held(first) in (119, 120)  # from ACTIVE (just after the start) to the hand-over
    assert selectors.seconds_held(second) == 120


def test_resize_changes_flavor_within_capacity(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    server = services.booking_change_profile(actor=renter, booking_id=b.pk, profile_id=medium.pk)
    assert server.state == "resizing"
    services.server_resize_run(server_id=server.pk)
    server.refresh_from_db()
    b.refresh_from_db()
    assert server.state == "active" and server.flavor_name == medium.flavor_name
    assert (b.profile_id, b.vcpus, b.ram_mib) == (medium.pk, medium.vcpus, medium.ram_mib)
    (cs,) = sim_servers(sim_offering.cloud)
    assert cs.data["flavor"] == medium.flavor_name


def test_resize_refused_beyond_offering_or_unsold_profile(sim_offering, renter, other_owner):  # type: ignore[no-untyped-def]
    from marketplace.lib.errors import DomainError, NotFoundError

    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    large = SliceProfile.objects.get(owner=None, name="Large")
    with pytest.raises(DomainError, match="does not sell"):
        services.booking_change_profile(actor=renter, booking_id=b.pk, profile_id=large.pk)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    with pytest.raises(NotFoundError):
        services.booking_change_profile(actor=other_owner, booking_id=b.pk, profile_id=medium.pk)
    assert Booking.objects.get(pk=b.pk).profile.name == "Small"
