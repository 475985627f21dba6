"""Metering against a REAL Nova (deploy/nova/start.sh, fake virt driver): server diagnostics with an owner's
admin credential, and with an ordinary (member) one, which Nova's default policy refuses (403). Skipped with
the reason when that Nova is not reachable."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from provisioning import selectors, services
from provisioning.drivers.base import DiagnosticsForbidden
from provisioning.drivers.openstack import OpenStackDriver
from provisioning.models import Server, UsageSample
from provisioning.services import metering
from tests import factories
from tests.provisioning import nova
from tests.provisioning.helpers import add_ssh_key, booking, ensure_predefined_profiles

_reason = nova.unreachable_reason()
if _reason is not None and os.environ.get("NOVA_REQUIRED"):
    pytest.fail(f"NOVA_REQUIRED is set but the real Nova is not usable: {_reason}", pytrace=False)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db,
    pytest.mark.skipif(_reason is not None, reason=f"real Nova needed: {_reason}"),
]


@pytest.fixture
def project():  # type: ignore[no-untyped-def]
    proj = nova.new_project("mkt-meter")
    yield proj
    proj.cleanup()


def member_credential(project: nova.NovaProject) -> tuple[str, str]:
    """An application credential of the same user and project holding only the ordinary ``member`` role."""
    admin = nova.admin_connection()
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project.project_id, admin.current_user_id, member)
    secret = uuid.uuid4().hex
    for attempt in range(8):  # Keystone may not see the fresh role assignment at once
        try:
            cred = project.conn.identity.create_application_credential(
                user=project.conn.current_user_id,
                name=f"{project.name}-member",
                secret=secret,
                roles=[{"id": member.id}],
            )
            return cred.id, secret
        except Exception:
            if attempt == 7:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def test_diagnostics_with_admin_and_with_member_credentials(project, owner, renter, settings):  # type: ignore[no-untyped-def]
    ensure_predefined_profiles()
    settings.PROVISIONING_NETWORKS = "none"  # the dev Neutron has no agents: boot without a NIC
    settings.PROVISIONING_ACTIVE_TIMEOUT_SECONDS = 60
    nova.allow_in_settings(settings)  # plain http to the local Nova: the operator's development allowance
    metering._forbidden.clear()
    admin_cloud = factories.cloud(
        owner,
        driver="openstack",
        auth_url=project.auth_url,
        app_credential_id=project.credential_id,
        app_credential_secret=project.credential_secret,
    )
    cred_id, cred_secret = member_credential(project)
    member_cloud = factories.cloud(
        owner,
        driver="openstack",
        auth_url=project.auth_url,
        app_credential_id=cred_id,
        app_credential_secret=cred_secret,
    )
    offer = factories.offering(owner, on=admin_cloud, publish=True, allowed_images=[project.image])
    factories.price(owner, offer, profile="Small")
    add_ssh_key(renter)
    b = booking(renter, offer, seconds=5)
    server = services.server_launch(booking_id=b.pk)
    assert server is not None and server.state == "active"

    # The admin credential reads the counters (the launch took the start reading: the slice had begun).
    start = UsageSample.objects.get(server=server)
    assert start.raw["_kind"] == "start"
    assert start is not None and start.raw["_source"] == "diagnostics"
    assert start.cpu_time_ns is not None and start.memory_mib is not None

    # The member credential: Nova refuses diagnostics (403), still shows the server's status.
    with pytest.raises(DiagnosticsForbidden):
        OpenStackDriver(member_cloud).diagnostics(server.external_id)
    assert OpenStackDriver(member_cloud).get_server(server.external_id).status == "ACTIVE"
    Server.objects.filter(pk=server.pk).update(cloud=member_cloud)
    final = services.meter_final(server_id=server.pk)
    assert final is not None and final.raw["_source"] == "status" and final.raw["status"] == "ACTIVE"
    assert final.cpu_time_ns is None

    usage = selectors.usage_for_booking(b)
    assert usage["totals"]["samples"] == 2 and usage["totals"]["seconds_active"] > 0
    assert "admin role" in usage["unavailable"]["cpu_time_ns"]

    Server.objects.filter(pk=server.pk).update(cloud=admin_cloud)
    services.server_reclaim(server_id=server.pk)
    assert project.servers() == []
