"""Standby pools in the Offering admin: a size change goes through owners.services.standby_pool_set (held
back from sale, audited, refill sent on commit) and the capacity guard's refusal is a form error that
changes nothing, as the admin's capacity edit is guarded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from audit.models import DomainEvent
from owners import services as owner_services
from owners.models import SliceProfile, StandbyPool
from provisioning.models import Server
from tests import factories
from tests.conftest import login
from tests.owners.test_capacity_guard import _post_data
from tests.provisioning.helpers import booking

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_admin_pool_size_goes_through_the_service_and_the_guard(  # type: ignore[no-untyped-def]
    owner, staff, renter, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        small = SliceProfile.objects.get(owner=None, name="Small")
        offer = factories.offering(owner, publish=True, vcpus=2, ram_mib=4096, disk_gb=40, bandwidth_mbps=500)
        pool = owner_services.standby_pool_set(actor=owner, offering=offer, profile=small, size=0)
        client = login(staff)
        url = reverse("admin:owners_offering_change", args=[offer.pk])

        with django_capture_on_commit_callbacks(execute=False) as sent:
            response = client.post(url, _post_data(client.get(url).content.decode(), **{"standby_pools-0-size": "1"}))
        assert response.status_code == 302, response.content.decode()[:3000]
        pool.refresh_from_db()
        offer.refresh_from_db()
        assert pool.size == 1 and offer.standby_vcpus == 1
        assert ("provisioning.refill_pool", pool.pk) in [cb.args for cb in sent if getattr(cb, "args", None)]
        assert DomainEvent.objects.filter(verb="offering.standby_set", actor=staff).count() == 1

        booking(renter, offer, starts_at=T0, seconds=600)  # the one Small left for sale
        response = client.post(url, _post_data(client.get(url).content.decode(), **{"standby_pools-0-size": "2"}))
        assert response.status_code == 200
        page = response.content.decode()
        assert "Standby servers cannot take" in page and "10:00:00" in page
        pool.refresh_from_db()
        offer.refresh_from_db()
        assert pool.size == 1 and offer.standby_vcpus == 1
        assert DomainEvent.objects.filter(verb="offering.standby_set", actor=staff).count() == 1

        # The pool's own admin page is guarded the same way, and saves through the service.
        own = reverse("admin:owners_standbypool_change", args=[pool.pk])
        refused = client.post(own, {"size": "2"})
        assert refused.status_code == 200 and "Standby servers cannot take" in refused.content.decode()
        pool.refresh_from_db()
        assert pool.size == 1
        assert client.post(own, {"size": "0"}).status_code == 302
        pool.refresh_from_db()
        offer.refresh_from_db()
        assert pool.size == 0 and offer.standby_vcpus == 0
        assert DomainEvent.objects.filter(verb="offering.standby_set", actor=staff).count() == 2


def test_server_admin_shows_pool_offering_state_revoked(owner, staff):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner)
    small = SliceProfile.objects.get(owner=None, name="Small")
    pool = owner_services.standby_pool_set(actor=owner, offering=offer, profile=small, size=1)
    Server.objects.create(
        cloud=offer.cloud, offering=offer, pool=pool, state="standby", name="idle-one",
        vcpus=1, ram_mib=2048, disk_gb=20, bandwidth_mbps=250,
    )  # fmt: skip
    page = login(staff).get(reverse("admin:provisioning_server_changelist")).content.decode()
    for column in ("column-pool", "column-offering", "column-state", "column-revoked_at"):
        assert column in page
    assert str(pool) in page and "idle-one" in page
    assert StandbyPool.objects.count() == 1
