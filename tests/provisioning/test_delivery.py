"""Delivery to the second on the simulator: standby servers, control transfer by rebuild, the physical claim.

The same services the Celery tasks call, run in-process with the clock held still (time-machine), so each
instant is the test's to choose; the simulator's boot and rebuild take no time here. The real-Nova and
real-worker versions are in test_delivery_nova.py, the timing at scale in bench/delivery.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from marketplace.lib.errors import ValidationFailed
from marketplace.lib.money import prorate
from owners import services as owner_services
from owners.models import Offering, SliceProfile
from provisioning import services
from provisioning.drivers import booking_ref
from provisioning.models import Server, SimulatedResource
from scheduling import services as engine
from scheduling.errors import SliceTaken
from scheduling.models import Booking
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import add_ssh_key, booking, fund

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SMALL = {"vcpus": 1, "ram_mib": 2048, "disk_gb": 20, "bandwidth_mbps": 250}


@pytest.fixture
def full_offering(owner, fast_simulator):  # type: ignore[no-untyped-def]
    """Room for exactly two Small servers, 5-second grid."""
    fast_simulator.SIMULATOR_REBUILD_SECONDS = 0
    fast_simulator.PROVISIONING_REBUILD_ESTIMATE_SECONDS = 1
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        return factories.offering(
            owner,
            publish=True,
            vcpus=2,
            ram_mib=4096,
            disk_gb=40,
            bandwidth_mbps=500,
            grid_seconds=5,
            min_length_seconds=5,
            max_length_seconds=3600,
        )


def _small() -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name="Small")


def _cloud_servers(offering: Offering) -> list[SimulatedResource]:
    return list(SimulatedResource.objects.filter(cloud=offering.cloud, kind="server"))


def _renter(n: int):  # type: ignore[no-untyped-def]
    user = factories.renter(email=f"r{n}@example.test")
    add_ssh_key(user)
    return user


def test_standby_servers_are_held_back_from_sale(owner, full_offering):  # type: ignore[no-untyped-def]
    """One standby Small on a two-Small offering: the market sells one, and a pool that would take booked
    capacity is refused with the instant named."""
    with time_machine.travel(T0 - timedelta(minutes=30), tick=False):
        owner_services.standby_pool_set(actor=owner, offering=full_offering, profile=_small(), size=1)
        full_offering.refresh_from_db()
        assert full_offering.sellable_capacity() == {"vcpus": 1, "ram_mib": 2048, "disk_gb": 20, "bandwidth_mbps": 250}
        a, b = _renter(1), _renter(2)
        fund(a, 10_000)
        fund(b, 10_000)
        first = engine.booking_request(actor=a, slice_id=factories.slice_id(full_offering, T0, 60))
        assert first.state == "confirmed"
        with pytest.raises(SliceTaken):
            engine.booking_request(actor=b, slice_id=factories.slice_id(full_offering, T0, 60))
        with pytest.raises(ValidationFailed) as refused:
            owner_services.standby_pool_set(actor=owner, offering=full_offering, profile=_small(), size=2)
        assert "size" in refused.value.errors
        assert "10:00:00" in " ".join(refused.value.errors["size"])
        full_offering.refresh_from_db()
        assert full_offering.standby_vcpus == 1  # nothing changed


def test_the_cloud_never_holds_more_servers_than_the_offering_sells(owner, full_offering, renter):  # type: ignore[no-untyped-def]
    """The physical claim: a third Small server row on a two-Small offering is refused by PostgreSQL."""
    rows = [
        Server(booking=None, cloud=full_offering.cloud, offering=full_offering, state="standby", name=f"s{i}", **SMALL)
        for i in range(3)
    ]
    rows[0].save()
    rows[1].save()
    with pytest.raises(IntegrityError, match="would need more than its capacity"), transaction.atomic():
        rows[2].save()
    rows[1].state = "deleted"
    rows[1].save()
    rows[2].save()  # a deleted server's room is free again
    assert Server.objects.filter(offering=full_offering, state="standby").count() == 2


def test_a_slice_starts_on_a_standby_server_rebuilt_with_the_renters_key(owner, full_offering):  # type: ignore[no-untyped-def]
    a = _renter(1)
    with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
        pool = owner_services.standby_pool_set(actor=owner, offering=full_offering, profile=_small(), size=1)
        assert services.pool_refill(pool_id=pool.pk) == 1
        standby = Server.objects.get(pool=pool, booking=None)
        assert standby.state == "standby" and standby.external_id
        group = SimulatedResource.objects.get(kind="secgroup", name=standby.security_group_name)
        assert group.data["rules"] == []  # idle: nothing gets in
        b = booking(a, full_offering, starts_at=T0, seconds=5)
        Booking.objects.filter(pk=b.pk).update(ssh_cidrs=["203.0.113.7/32"])
        # Too early: a standby server is taken only its rebuild estimate before the start.
        early = services.booking_deliver(booking_id=b.pk)
        assert early.action == "wait" and early.retry_at == T0 - timedelta(
            seconds=1 + services.transfer.margin_seconds()
        )
    with time_machine.travel(early.retry_at, tick=False):
        done = services.booking_deliver(booking_id=b.pk)
    assert done.action == "transferred"
    server = Server.objects.get(booking=b, state="active")
    assert server.external_id == standby.external_id  # the same cloud server, a new tenure
    assert server.held_from == T0  # usable before the start, charged from the start
    cloud = SimulatedResource.objects.get(external_id=server.external_id)
    assert cloud.data["key_name"] == server.keypair_name and cloud.data["rebuilds"] == 1
    assert cloud.data["metadata"] == {"marketplace_booking": booking_ref(b.pk)}
    assert (
        SimulatedResource.objects.get(kind="keypair", name=server.keypair_name)
        .data["public_key"]
        .startswith("ssh-ed25519")
    )
    assert Booking.objects.get(pk=b.pk).state == "running"
    # SSH is open to the renter's chosen source only, on the same group.
    rules = SimulatedResource.objects.get(kind="secgroup", name=server.security_group_name).data["rules"]
    assert rules and {r["remote_ip_prefix"] for r in rules} == {"203.0.113.7/32"}
    # The pool refills behind it: two servers on a two-server offering, never three.
    with time_machine.travel(T0, tick=False):
        assert services.pool_refill(pool_id=pool.pk) == 1
        assert services.pool_refill(pool_id=pool.pk) == 0
    assert len(_cloud_servers(full_offering)) == 2


def test_back_to_back_renters_on_a_full_offering_share_one_server_wiped_between(owner, full_offering):  # type: ignore[no-untyped-def]
    """No standby, capacity for one slice at a time (the other Small is someone's): A then B, different
    renters. B's launch ahead of its slice is refused by the physical claim; at A's end A's server is
    rebuilt with B's key (A's access ends then), and the cloud never holds more than two servers."""
    a, b_renter, c = _renter(1), _renter(2), _renter(3)
    with time_machine.travel(T0 - timedelta(minutes=2), tick=False):
        blocker = booking(c, full_offering, starts_at=T0 - timedelta(minutes=1), seconds=600)
        assert services.booking_deliver(booking_id=blocker.pk).action == "launched"
        first = booking(a, full_offering, starts_at=T0, seconds=5)
        second = booking(b_renter, full_offering, starts_at=T0 + timedelta(seconds=5), seconds=5)
    with time_machine.travel(T0 - timedelta(seconds=60), tick=False):
        assert services.booking_deliver(booking_id=first.pk).action == "launched"
        assert len(_cloud_servers(full_offering)) == 2
    with time_machine.travel(T0 + timedelta(seconds=5) - timedelta(seconds=60), tick=False):
        # The cloud is full: B waits for A's server (its end step transfers it).
        waited = services.booking_deliver(booking_id=second.pk)
        assert waited.action == "wait"
        assert not Server.objects.filter(booking=second).exists()
    end = T0 + timedelta(seconds=5)
    with time_machine.travel(end, tick=False):
        assert services.end_booking_now(booking_id=first.pk)
        services.booking_reclaim(booking_id=first.pk, reason="slice ended")
    a_row = Server.objects.get(booking=first)
    b_row = Server.objects.get(booking=second, state="active")
    assert a_row.state == "handed_over" and a_row.revoked_at == end and a_row.held_until == end
    assert b_row.external_id == a_row.external_id and b_row.predecessor_id == a_row.pk
    assert b_row.held_from == end
    cloud = SimulatedResource.objects.get(external_id=b_row.external_id)
    assert cloud.data["key_name"] == b_row.keypair_name != a_row.keypair_name  # rebuilt with B's key
    assert not SimulatedResource.objects.filter(kind="keypair", name=a_row.keypair_name).exists()
    assert Booking.objects.get(pk=second.pk).state == "running"
    assert Booking.objects.get(pk=first.pk).state == "completed"
    assert len(_cloud_servers(full_offering)) == 2


def test_a_finished_slice_refills_a_short_pool_by_wiping_its_server(owner, full_offering):  # type: ignore[no-untyped-def]
    a = _renter(1)
    with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
        pool = owner_services.standby_pool_set(actor=owner, offering=full_offering, profile=_small(), size=1)
        services.pool_refill(pool_id=pool.pk)
        b = booking(a, full_offering, starts_at=T0, seconds=5)
    with time_machine.travel(T0 - timedelta(seconds=1), tick=False):
        assert services.booking_deliver(booking_id=b.pk).action == "transferred"
    # The refill could not run yet (say): at A's end its server goes back to the pool, rebuilt with no key.
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        services.end_booking_now(booking_id=b.pk)
        services.booking_reclaim(booking_id=b.pk, reason="slice ended")
    back = Server.objects.get(pool=pool, booking=None, state="standby")
    cloud = SimulatedResource.objects.get(external_id=back.external_id)
    assert cloud.data["key_name"] is None and cloud.data["rebuilds"] == 2 and not cloud.data["has_user_data"]
    assert Server.objects.get(booking=b).revoked_at == T0 + timedelta(seconds=5)
    assert len(_cloud_servers(full_offering)) == 1


def test_the_renter_pays_only_the_seconds_the_server_was_usable_and_the_costs_say_so(owner, full_offering):  # type: ignore[no-untyped-def]
    """A transfer that finishes a second late: 4 of 5 seconds usable, 4/5 of the price, "4 of 5 s" on the page."""
    from billing import integration as billing_integration
    from billing.models import BookingCharge

    a = _renter(1)
    fund(a, 10_000)
    with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
        pool = owner_services.standby_pool_set(actor=owner, offering=full_offering, profile=_small(), size=1)
        services.pool_refill(pool_id=pool.pk)
        b = engine.booking_request(actor=a, slice_id=factories.slice_id(full_offering, T0, 5))
        billing_integration.hold_for_booking(b.pk)
        price = BookingCharge.objects.get(booking_id=b.pk).price
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):  # the start step ran late
        assert services.booking_deliver(booking_id=b.pk).action == "transferred"
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        services.end_booking_now(booking_id=b.pk)
        services.booking_reclaim(booking_id=b.pk, reason="slice ended")
        assert billing_integration.settle_booking_from_engine(b.pk) in ("settled", "settling")
    charge = BookingCharge.objects.get(booking_id=b.pk)
    assert charge.used_seconds == 4
    assert charge.charged_amount == prorate(price, 4, 5) < price
    page = login(a).get(reverse("billing:overview")).content.decode()
    assert "4 of 5 s" in page


def test_a_preemption_deadline_is_an_exact_instant_too(
    owner, full_offering, monkeypatch, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    """The notice moves the end step to the deadline (an ETA task); before it the step does nothing and
    looks again; at it the booking is preempted and the server leaves the renter then."""
    from provisioning import tasks

    sent: list[tuple[int, object]] = []
    monkeypatch.setattr(tasks.finish_booking, "apply_async", lambda args, **kw: sent.append((args[0], kw.get("eta"))))
    a = _renter(1)
    with time_machine.travel(T0, tick=False):
        b = booking(a, full_offering, starts_at=T0, seconds=600)
        assert services.booking_deliver(booking_id=b.pk).action == "launched"
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=b.pk), notice_seconds=20)
        deadline = Booking.objects.get(pk=b.pk).preempt_deadline
        assert deadline == T0 + timedelta(seconds=50)
        assert (b.pk, deadline) in sent
        assert not services.end_booking_now(booking_id=b.pk)  # early (a duplicate message): nothing yet
    with time_machine.travel(deadline, tick=False):
        assert services.end_booking_now(booking_id=b.pk)
        services.booking_reclaim(booking_id=b.pk, reason="preempted")
    assert Booking.objects.get(pk=b.pk).state == "preempted"
    row = Server.objects.get(booking=b)
    assert row.state == "deleted" and row.revoked_at == deadline and row.held_until == deadline


def test_the_reconciler_leaves_standby_servers_alone_and_replaces_a_lost_one(owner, full_offering):  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False):
        pool = owner_services.standby_pool_set(actor=owner, offering=full_offering, profile=_small(), size=1)
        services.pool_refill(pool_id=pool.pk)
        standby = Server.objects.get(pool=pool, state="standby")
        result = services.reconcile()
        assert result.orphans_deleted == [] and Server.objects.get(pk=standby.pk).state == "standby"
        SimulatedResource.objects.filter(external_id=standby.external_id).delete()  # lost by the cloud
        services.reconcile()
        assert Server.objects.get(pk=standby.pk).state == "deleted"
        assert services.pools_due() == [pool.pk]
        assert services.pool_refill(pool_id=pool.pk) == 1
    assert Server.objects.filter(pool=pool, state="standby").count() == 1
