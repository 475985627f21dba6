"""What the renter's server carries, on a REAL Nova (deploy/nova/start.sh, fake virt driver), through the
OpenStack driver: user-data reaches Nova base64-encoded, the security group lets SSH and ping in from the
renter's ranges only, the console log (os-getConsoleOutput) is read, public images are listed.
Skipped with the reason when that Nova is not reachable."""

from __future__ import annotations

import base64
import contextlib
import os

import pytest

from provisioning.drivers import LaunchSpec
from provisioning.drivers.openstack import OpenStackDriver
from tests import factories
from tests.provisioning import nova

_reason = nova.unreachable_reason()
if _reason is not None and os.environ.get("NOVA_REQUIRED"):
    pytest.fail(f"NOVA_REQUIRED is set but the real Nova is not usable: {_reason}", pytrace=False)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db,
    pytest.mark.skipif(_reason is not None, reason=f"real Nova needed: {_reason}"),
]

USER_DATA = "#cloud-config\nruncmd:\n- echo hello-from-the-renter\n"


@pytest.fixture
def project():  # type: ignore[no-untyped-def]
    proj = nova.new_project("mkt-access")
    yield proj
    proj.cleanup()


def test_user_data_ssh_sources_console_and_public_images_on_nova(owner, project, settings):  # type: ignore[no-untyped-def]
    settings.PROVISIONING_NETWORKS = "none"  # the dev Neutron has no agents: boot without a NIC
    allow = getattr(nova, "allow_in_settings", None)
    if allow is not None:  # plain http to the local Nova: the operator's development allowance
        allow(settings)
    cloud = factories.cloud(
        owner,
        driver="openstack",
        auth_url=project.auth_url,
        app_credential_id=project.credential_id,
        app_credential_secret=project.credential_secret,
    )
    driver = OpenStackDriver(cloud)
    image = project.conn.image.find_image(project.image)
    if image is not None and image.visibility == "public":
        assert project.image in driver.list_public_images()

    name = f"mkt-booking-access-{project.name[-8:]}"
    group = driver.ensure_security_group(
        name=name, description="test", fresh=True, cidrs=("203.0.113.9/32", "2001:db8::/64")
    )
    server_id = ""
    try:
        if group is not None:
            sg = project.conn.network.find_security_group(name)
            ingress = [
                (r.protocol, r.remote_ip_prefix)
                for r in project.conn.network.security_group_rules(security_group_id=sg.id)
                if r.direction == "ingress"
            ]
            assert sorted(ingress) == sorted(
                [
                    ("tcp", "203.0.113.9/32"),
                    ("icmp", "203.0.113.9/32"),
                    ("tcp", "2001:db8::/64"),
                    ("ipv6-icmp", "2001:db8::/64"),
                ]
            )
            # When the server passes to another renter, their sources replace the previous holder's.
            driver.set_ssh_sources(name=name, cidrs=("192.0.2.0/24",))
            after = [
                (r.protocol, r.remote_ip_prefix)
                for r in project.conn.network.security_group_rules(security_group_id=sg.id)
                if r.direction == "ingress"
            ]
            assert sorted(after) == [("icmp", "192.0.2.0/24"), ("tcp", "192.0.2.0/24")]
        flavor = driver.ensure_flavor(name="m1.small", vcpus=1, ram_mib=2048, disk_gb=20)
        spec = LaunchSpec(
            name=name,
            booking_id=0,
            flavor_id=flavor,
            image_id=driver.find_image(project.image),
            keypair_name=None,
            security_group_name=None,
            metadata={},
            tags=[],
            user_data=USER_DATA,
        )
        server_id = driver.create_server(spec).id
        assert driver.wait_for_status(server_id, ("ACTIVE",), timeout=90).status == "ACTIVE"
        seen = project.conn.compute.get_server(server_id)
        if seen.user_data:  # shown to admins from compute microversion 2.3 on
            assert base64.b64decode(seen.user_data).decode() == USER_DATA
        console = driver.console_output(server_id, length=10)
        assert isinstance(console, str) and console.strip()  # the fake virt driver's canned console
        assert len(console.splitlines()) <= 10
    finally:
        if server_id:
            with contextlib.suppress(Exception):
                driver.delete_server(server_id)
                driver.wait_for_delete(server_id, timeout=60)
        driver.delete_security_group(name)
