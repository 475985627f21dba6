"""Adopting the owner's existing servers as standby servers, on the simulator: a server of the owner's
project (a SimulatedResource made straight in the owner's cloud, as if the owner had booted it) becomes
an idle standby server of a pool; refused when already tracked, on another flavor, or when the offering's
capacity is full, and a refused adoption changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import DomainEvent
from marketplace.lib.errors import PermissionDeniedError, ValidationFailed
from owners import services as owner_services
from owners.models import Offering, SliceProfile, StandbyPool
from provisioning import services
from provisioning.models import Server, SimulatedResource
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(owner, fast_simulator):  # type: ignore[no-untyped-def]
    """Room for exactly two Small servers."""
    return factories.offering(owner, publish=True, vcpus=2, ram_mib=4096, disk_gb=40, bandwidth_mbps=500)


@pytest.fixture
def pool(owner, offering):  # type: ignore[no-untyped-def]
    return owner_services.standby_pool_set(actor=owner, offering=offering, profile=_small(), size=0)


def _small() -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name="Small")


def _pre_existing(offering: Offering, ext: str = "owner-vm-1", *, flavor: str = "m1.small", status: str = "ACTIVE"):  # type: ignore[no-untyped-def]
    return SimulatedResource.objects.create(
        cloud=offering.cloud,
        kind="server",
        external_id=ext,
        name=f"vm {ext}",
        status=status,
        data={"flavor": flavor, "metadata": {}, "tags": [], "ip": "198.51.100.77"},
    )


def _state() -> tuple:
    return (
        list(Server.objects.order_by("pk").values_list("pk", "state", "external_id")),
        list(StandbyPool.objects.order_by("pk").values_list("pk", "size")),
        list(Offering.objects.order_by("pk").values_list("pk", "standby_vcpus")),
        DomainEvent.objects.filter(verb="server.adopted_standby").count(),
    )


def test_the_drivers_list_every_server_of_the_project(owner, offering, pool):  # type: ignore[no-untyped-def]
    from provisioning.drivers import driver_for

    _pre_existing(offering)
    owner_services.standby_pool_set(actor=owner, offering=offering, profile=_small(), size=1)
    services.pool_refill(pool_id=pool.pk)  # a marketplace server too
    listed = driver_for(offering.cloud).list_project_servers()
    assert sorted(s.name.split("-")[0] for s in listed) == ["mkt", "vm owner"]
    assert len(driver_for(offering.cloud).list_marketplace_servers()) == 1


def test_an_adopted_server_is_an_idle_standby_server_held_back_from_sale(owner, offering, pool):  # type: ignore[no-untyped-def]
    _pre_existing(offering)
    server = services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    server.refresh_from_db()
    assert (server.booking_id, server.pool_id, server.offering_id, server.state) == (
        None,
        pool.pk,
        offering.pk,
        "standby",
    )
    assert (server.vcpus, server.ram_mib, server.disk_gb, server.bandwidth_mbps) == (1, 2048, 20, 250)
    assert server.external_id == "owner-vm-1" and server.flavor_name == "m1.small" and server.active_at is not None
    pool.refresh_from_db()
    offering.refresh_from_db()
    assert pool.size == 1  # the pool grew to hold it, so the refill does not trim it
    assert offering.sellable_capacity()["vcpus"] == 1
    assert services.pool_refill(pool_id=pool.pk) == 0
    assert Server.objects.get(pk=server.pk).state == "standby"
    event = DomainEvent.objects.get(verb="server.adopted_standby")
    assert event.data["external_id"] == "owner-vm-1" and event.data["pool"] == pool.pk


def test_adopting_into_a_pool_still_booting_takes_a_place_it_would_boot(owner, offering):  # type: ignore[no-untyped-def]
    pool = owner_services.standby_pool_set(actor=owner, offering=offering, profile=_small(), size=1)
    _pre_existing(offering)
    services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    pool.refresh_from_db()
    assert pool.size == 1
    assert services.pool_refill(pool_id=pool.pk) == 0  # nothing left to boot


def test_a_tracked_server_is_refused(owner, offering, pool):  # type: ignore[no-untyped-def]
    _pre_existing(offering)
    services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    before = _state()
    with pytest.raises(ValidationFailed) as refused:
        services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    assert refused.value.errors == {"external_id": ["The marketplace already tracks this server."]}
    assert _state() == before


def test_a_server_on_another_flavor_is_refused_with_the_reason(owner, offering, pool):  # type: ignore[no-untyped-def]
    _pre_existing(offering, flavor="m1.large")
    before = _state()
    with pytest.raises(ValidationFailed) as refused:
        services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    assert refused.value.errors["external_id"] == [
        "The server runs flavor m1.large, but this pool's profile Small uses flavor m1.small: "
        "adopt it into a pool of its flavor."
    ]
    assert _state() == before


def test_refused_when_the_offerings_capacity_is_full(owner, offering, pool):  # type: ignore[no-untyped-def]
    for i in range(2):
        Server.objects.create(
            booking=None, cloud=offering.cloud, offering=offering, state="active", name=f"busy{i}",
            vcpus=1, ram_mib=2048, disk_gb=20, bandwidth_mbps=250,
        )  # fmt: skip
    _pre_existing(offering)
    before = _state()
    with pytest.raises(ValidationFailed) as refused:
        services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    assert refused.value.errors == {
        "external_id": ["The offering's capacity is full: no room for another standby server."]
    }
    assert _state() == before  # the pool's growth was undone with the refusal


def test_unknown_stopped_and_other_owners_servers_are_refused(owner, other_owner, offering, pool):  # type: ignore[no-untyped-def]
    theirs = factories.offering(other_owner, vcpus=2, ram_mib=4096, disk_gb=40, bandwidth_mbps=500)
    _pre_existing(theirs, "their-vm")
    _pre_existing(offering, "stopped-vm", status="SHUTOFF")
    before = _state()
    with pytest.raises(ValidationFailed, match="not in your cloud project's list"):
        services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="their-vm")
    with pytest.raises(ValidationFailed, match="only ACTIVE servers"):
        services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="stopped-vm")
    with pytest.raises(PermissionDeniedError):
        services.server_adopt(actor=other_owner, offering=offering, pool=pool, external_id="stopped-vm")
    other_pool = owner_services.standby_pool_set(actor=other_owner, offering=theirs, profile=_small(), size=0)
    with pytest.raises(ValidationFailed, match="another offering"):
        services.server_adopt(actor=owner, offering=offering, pool=other_pool, external_id="stopped-vm")
    assert _state()[0] == before[0]


def test_the_portal_adopts_and_shows_a_refusal_next_to_the_server(owner, offering, pool):  # type: ignore[no-untyped-def]
    _pre_existing(offering)
    _pre_existing(offering, "big-vm", flavor="m1.large")
    client = login(owner)
    url = reverse("provisioning:offering_adopt", args=[offering.pk])
    refused = client.post(url, {"pool": pool.pk, "external_id": "big-vm"})
    assert refused.status_code == 400
    row = refused.content.decode().split('value="big-vm"', 1)[1].split("</tr>", 1)[0]
    assert "runs flavor m1.large" in row
    assert client.post(url, {"pool": pool.pk, "external_id": "owner-vm-1"}).status_code == 302
    assert Server.objects.get(external_id="owner-vm-1").state == "standby"
    table = client.get(url).content.decode().split('data-testid="project-servers"', 1)[1]
    assert "vm owner-vm-1" not in table and "vm big-vm" in table  # tracked servers are no longer offered


def test_the_reconciler_keeps_an_adopted_server(owner, offering, pool):  # type: ignore[no-untyped-def]
    """It carries no marketplace tag (the owner booted it), yet it is tracked: neither an orphan nor lost."""
    _pre_existing(offering)
    server = services.server_adopt(actor=owner, offering=offering, pool=pool, external_id="owner-vm-1")
    result = services.reconcile()
    assert result.orphans_deleted == [] and result.errors == []
    assert Server.objects.get(pk=server.pk).state == "standby"
    assert SimulatedResource.objects.filter(external_id="owner-vm-1").exists()
