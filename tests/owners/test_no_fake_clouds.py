"""No fake clouds in production, and owners vetted before they publish (issue 14, item 3)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from audit.models import DomainEvent
from marketplace.lib.errors import PermissionDeniedError, ValidationFailed
from owners import services
from owners.forms import CloudForm
from owners.models import Cloud, Offering, OwnerVetting
from provisioning.drivers import CloudError, driver_for
from provisioning.drivers.registry import registered_drivers
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


# ---- the simulator exists only in development ----------------------------------------------------


@pytest.fixture
def production(settings):  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ALLOW_SIMULATOR = False
    return settings


def test_the_simulator_is_not_offered_when_the_setting_is_off(production, owner, staff):
    assert [v for v, _ in CloudForm().fields["driver"].choices] == ["openstack"]
    assert registered_drivers() == ["openstack"]
    page = login(owner).get(reverse("owners:cloud_create")).content.decode()
    assert 'value="simulator"' not in page and 'value="openstack"' in page
    admin_page = login(staff).get(reverse("admin:owners_cloud_add")).content.decode()
    assert 'value="simulator"' not in admin_page and 'value="openstack"' in admin_page


def test_the_simulator_is_offered_in_development(settings, owner):
    settings.MARKETPLACE_ALLOW_SIMULATOR = True
    assert "simulator" in [v for v, _ in CloudForm().fields["driver"].choices]
    assert "simulator" in registered_drivers()


def test_no_door_creates_a_simulator_cloud_when_the_setting_is_off(production, owner):
    with pytest.raises(ValidationFailed) as exc:
        factories.cloud(owner, driver="simulator")
    assert exc.value.errors["driver"] == ["The local simulator is not available here: choose OpenStack."]
    response = login(owner).post(
        reverse("owners:cloud_create"), {"name": "fake", "driver": "simulator", "region_name": "RegionOne"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Cloud.objects.exists()


def test_an_existing_simulator_cloud_is_not_served_and_fails_the_system_check(settings, owner):
    settings.MARKETPLACE_ALLOW_SIMULATOR = True
    fake = factories.cloud(owner, driver="simulator")
    assert checks.run_checks(tags=["owners"]) == []
    settings.MARKETPLACE_ALLOW_SIMULATOR = False
    errors = checks.run_checks(tags=["owners"])
    assert [e.id for e in errors] == ["owners.E001"]
    assert "1 cloud(s) use the local simulator driver" in errors[0].msg
    with pytest.raises(SystemCheckError, match="owners.E001"):
        call_command("check", tags=["owners"])
    with pytest.raises(CloudError, match="development only"):
        driver_for(fake)
    result = services.cloud_test_connection(actor=owner, cloud=fake)
    assert (result.ok, result.message) == (False, "The local simulator is not available here: choose OpenStack.")


# ---- owners are vetted before they publish -----------------------------------------------------


@pytest.fixture
def newcomer(db):  # type: ignore[no-untyped-def]
    """An owner who signed up and is still waiting for staff's approval."""
    return factories.owner(approved=False)


def test_an_owner_awaiting_approval_cannot_publish(newcomer):
    offer = factories.offering(newcomer, pricing={"model": "fixed", "price_per_unit": 10})
    with pytest.raises(PermissionDeniedError) as exc:
        services.offering_set_status(actor=newcomer, offering=offer, status="published")
    assert exc.value.message == services.AWAITING_APPROVAL
    assert Offering.objects.get(pk=offer.pk).status == "draft"
    assert not DomainEvent.objects.filter(verb="offering.published").exists()


def test_the_portal_tells_the_owner_what_is_pending_and_refuses_to_publish(newcomer):
    offer = factories.offering(newcomer, pricing={"model": "fixed", "price_per_unit": 10})
    client = login(newcomer)
    dashboard = client.get(reverse("owners:dashboard")).content.decode()
    assert "Pending: approval of your owner account" in dashboard and services.AWAITING_APPROVAL in dashboard
    detail = client.get(reverse("owners:offering_detail", args=[offer.pk])).content.decode()
    assert "Publishing waits for the marketplace staff to approve your owner account." in detail
    response = client.post(reverse("owners:offering_status", args=[offer.pk]), {"status": "published"}, follow=True)
    assert services.AWAITING_APPROVAL in response.content.decode()
    assert Offering.objects.get(pk=offer.pk).status == "draft"
    # Nor through the catalogue: renters do not see it.
    assert offer.name not in login(factories.renter()).get("/offerings/").content.decode()


def test_staff_approve_the_owner_in_the_admin_audited_then_the_owner_publishes(newcomer, staff):
    offer = factories.offering(newcomer, pricing={"model": "fixed", "price_per_unit": 10})
    admin = login(staff)
    listing = admin.get(reverse("admin:owners_owneraccount_changelist") + "?approval=pending").content.decode()
    assert newcomer.email in listing
    response = admin.post(
        reverse("admin:owners_owneraccount_changelist"),
        {"action": "approve_owner", "_selected_action": [str(newcomer.pk)]},
        follow=True,
    )
    assert "1 owner(s) approved" in response.content.decode()
    vetting = OwnerVetting.objects.get(owner=newcomer)
    assert vetting.approved_at is not None and vetting.approved_by == staff
    event = DomainEvent.objects.get(verb="owner.approved")
    assert (event.actor_id, event.target_id) == (staff.pk, str(newcomer.pk))

    client = login(newcomer)
    assert "Pending: approval" not in client.get(reverse("owners:dashboard")).content.decode()
    client.post(reverse("owners:offering_status", args=[offer.pk]), {"status": "published"})
    assert Offering.objects.get(pk=offer.pk).status == "published"


def test_approving_needs_the_permission_and_another_staff_member(newcomer):
    clerk = factories.UserFactory(is_staff=True)  # staff without owners.approve_owner
    with pytest.raises(PermissionDeniedError):
        services.owner_approve(actor=clerk, owner=newcomer)
    with pytest.raises(PermissionDeniedError):
        services.owner_approve(actor=newcomer, owner=newcomer)
    from django.contrib.auth.models import Permission

    staff_owner = factories.UserFactory(is_staff=True, is_owner=True, approved=False)
    staff_owner.user_permissions.add(Permission.objects.get(codename="approve_owner"))
    staff_owner = type(staff_owner).objects.get(pk=staff_owner.pk)  # fresh permission cache
    with pytest.raises(PermissionDeniedError, match="Another staff member"):
        services.owner_approve(actor=staff_owner, owner=staff_owner)
    services.owner_approve(actor=staff_owner, owner=newcomer)
    services.owner_approve(actor=staff_owner, owner=newcomer)  # twice: one approval, one event
    assert services.owner_is_approved(newcomer) and not services.owner_is_approved(staff_owner)
    assert DomainEvent.objects.filter(verb="owner.approved").count() == 1
    # The approve action is not offered to staff without the permission.
    page = login(clerk).get(reverse("admin:owners_owneraccount_changelist"))
    assert page.status_code == 403 or "approve_owner" not in page.content.decode()


def test_the_admin_offering_form_cannot_publish_for_an_owner_awaiting_approval(newcomer):
    from django.forms.models import model_to_dict

    from owners.admin import OfferingAdminForm

    offer = factories.offering(newcomer, pricing={"model": "fixed", "price_per_unit": 10})
    data = {k: v for k, v in model_to_dict(offer).items() if v is not None} | {"status": "published"}
    data["allowed_images"] = ",".join(offer.allowed_images)
    form = OfferingAdminForm(data=data, instance=offer)
    assert not form.is_valid()
    assert form.errors["status"] == ["This owner is not approved yet: approve them under Owners (vetting) first."]
    services.owner_approve(actor=factories.UserFactory(is_staff=True, is_superuser=True), owner=newcomer)
    form = OfferingAdminForm(data=data, instance=Offering.objects.get(pk=offer.pk))
    assert form.is_valid(), form.errors
