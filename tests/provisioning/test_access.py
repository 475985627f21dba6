"""What the renter's server carries (provisioning.access.renter_access) and what the renter reads back:
user-data and SSH sources reach the cloud, a cloud that refuses the key pair fails the booking instead
of starting a server nobody can log into, and the console log is the renter's (and staff's) only."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest

from marketplace.lib import crypto
from provisioning import services
from provisioning.access import RenterAccess, renter_access
from provisioning.drivers import CloudError
from provisioning.drivers.openstack import OpenStackDriver
from provisioning.drivers.simulator import SimulatorDriver
from provisioning.models import Server, SimulatedResource
from renters.models import SSHPublicKey
from scheduling.models import Booking, user_data_context
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import ED25519, add_ssh_key, booking

pytestmark = pytest.mark.django_db

SECRET = "#cloud-config\nruncmd:\n- echo the-secret-word-7431\n"


def _with(b: Booking, *, user_data: str | None = None, cidrs: list[str] | None = None) -> Booking:
    context = user_data_context(b.renter_id)
    b.user_data_encrypted = crypto.encrypt(user_data, context=context) if user_data else ""
    b.ssh_cidrs = cidrs or []
    b.save(update_fields=["user_data_encrypted", "ssh_cidrs"])
    return b


@pytest.fixture
def keyless(db):  # type: ignore[no-untyped-def]
    return factories.renter(ssh_key=False)


def test_renter_access_is_what_the_server_carries(sim_offering, keyless):
    b = _with(booking(keyless, sim_offering, image="debian-12"), user_data=SECRET, cidrs=["203.0.113.0/24"])
    access = renter_access(b)
    assert access == RenterAccess(public_key=None, user_data=SECRET, ssh_cidrs=["203.0.113.0/24"], image="debian-12")
    assert access.can_log_in
    assert "the-secret-word" not in repr(access)  # a log line or traceback never carries it
    add_ssh_key(keyless)
    assert renter_access(b).public_key == ED25519


def test_user_data_copied_to_another_renters_booking_does_not_decrypt(sim_offering, renter, keyless):
    mine = _with(booking(renter, sim_offering), user_data=SECRET)
    theirs = booking(keyless, sim_offering)
    Booking.objects.filter(pk=theirs.pk).update(user_data_encrypted=mine.user_data_encrypted)
    theirs.refresh_from_db()
    with pytest.raises(CloudError, match="could not be read back"):
        renter_access(theirs)
    services.server_launch(booking_id=theirs.pk)
    theirs.refresh_from_db()
    assert theirs.state == "failed" and "could not be read back" in theirs.reason
    assert not SimulatedResource.objects.filter(kind="server").exists()
    assert renter_access(mine).user_data == SECRET


def test_launch_passes_user_data_and_only_the_renters_ssh_sources(sim_offering, renter):
    b = _with(booking(renter, sim_offering), user_data=SECRET, cidrs=["203.0.113.9/32", "2001:db8::/64"])
    server = services.server_launch(booking_id=b.pk)
    assert server is not None and server.state == "active"
    cloud = SimulatedResource.objects.get(kind="server", external_id=server.external_id)
    assert cloud.data["has_user_data"] is True and "the-secret-word" not in str(cloud.data)
    group = SimulatedResource.objects.get(kind="secgroup", name=server.security_group_name)
    assert sorted({r["remote_ip_prefix"] for r in group.data["rules"]}) == ["2001:db8::/64", "203.0.113.9/32"]
    assert sorted((r["protocol"], r["remote_ip_prefix"]) for r in group.data["rules"]) == [
        ("icmp", "2001:db8::/64"),
        ("icmp", "203.0.113.9/32"),
        ("tcp", "2001:db8::/64"),
        ("tcp", "203.0.113.9/32"),
    ]
    assert all(r["port"] == 22 for r in group.data["rules"] if r["protocol"] == "tcp")


def test_sources_are_replaced_when_the_server_passes_to_another_renter(sim_offering, renter):
    b = _with(booking(renter, sim_offering), cidrs=["203.0.113.9/32"])
    server = services.server_launch(booking_id=b.pk)
    assert server is not None
    driver = SimulatorDriver(sim_offering.cloud)
    driver.set_ssh_sources(name=server.security_group_name, cidrs=("192.0.2.0/24",))
    rules = SimulatedResource.objects.get(kind="secgroup", name=server.security_group_name).data["rules"]
    assert sorted((r["protocol"], r["remote_ip_prefix"]) for r in rules) == [
        ("icmp", "192.0.2.0/24"),
        ("tcp", "192.0.2.0/24"),
    ]


def test_no_sources_means_nothing_reaches_ssh_and_the_renter_is_told(sim_offering, renter):
    b = booking(renter, sim_offering)
    server = services.server_launch(booking_id=b.pk)
    assert server is not None and server.state == "active"
    assert SimulatedResource.objects.get(kind="secgroup", name=server.security_group_name).data["rules"] == []
    assert "nothing can reach SSH" in Server.objects.get(pk=server.pk).isolation_note


@pytest.fixture
def refusing_keypairs(monkeypatch):  # type: ignore[no-untyped-def]
    """A cloud that refuses key pairs (as the OpenStack driver reports a 400/403/501: None)."""
    monkeypatch.setattr(SimulatorDriver, "ensure_keypair", lambda self, *, name, public_key: None)


def test_a_cloud_refusing_the_key_pair_fails_the_booking_with_a_reason(sim_offering, renter, refusing_keypairs):
    b = _with(booking(renter, sim_offering), cidrs=["203.0.113.9/32"])
    services.server_launch(booking_id=b.pk)
    b.refresh_from_db()
    assert b.state == "failed"
    assert "refused your SSH key" in b.reason and "nobody could log into the server" in b.reason
    assert "refunded" in b.reason
    # No server was ever created in the cloud, and what was made for it is gone.
    assert not SimulatedResource.objects.filter(kind="server").exists()
    assert Server.objects.get(booking=b).state in ("deleted", "error")


def test_with_user_data_a_refused_key_pair_is_launched_and_said_plainly(sim_offering, renter, refusing_keypairs):
    b = _with(booking(renter, sim_offering), user_data=SECRET, cidrs=["203.0.113.9/32"])
    server = services.server_launch(booking_id=b.pk)
    assert server is not None and server.state == "active"
    note = Server.objects.get(pk=server.pk).isolation_note
    assert "refused your SSH key" in note and "with your user-data only" in note
    assert SimulatedResource.objects.get(kind="server", external_id=server.external_id).data["key_name"] is None


def test_a_renter_who_removed_their_key_and_gave_no_user_data_is_not_launched(sim_offering, renter):
    b = booking(renter, sim_offering)
    SSHPublicKey.objects.filter(user=renter).delete()
    services.server_launch(booking_id=b.pk)
    b.refresh_from_db()
    assert b.state == "failed" and "no SSH key on file and gave no user-data" in b.reason
    assert not SimulatedResource.objects.filter(kind="server").exists()


# ---- the server page, the API and the console log --------------------------------------------------


@pytest.fixture
def running(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = _with(booking(renter, sim_offering), user_data=SECRET, cidrs=["203.0.113.9/32"])
    services.server_launch(booking_id=b.pk)
    return b


def test_server_page_shows_address_command_sources_and_console_link(running, renter):
    text = login(renter).get(f"/bookings/{running.pk}/server/").content.decode()
    assert "ssh ubuntu@198.51.100." in text
    assert "203.0.113.9/32" in text
    assert f"/bookings/{running.pk}/server/console" in text
    assert "the-secret-word" not in text


def test_console_log_is_the_renters_and_staffs_only(running, renter, owner, staff):
    page = login(renter).get(f"/bookings/{running.pk}/server/console")
    assert page.status_code == 200
    text = page.content.decode()
    assert "booting image ubuntu-24.04" in text and "Running user-data supplied by the renter" in text
    assert "the-secret-word" not in text
    assert login(staff).get(f"/bookings/{running.pk}/server/console").status_code == 200
    assert login(factories.renter()).get(f"/bookings/{running.pk}/server/console").status_code == 404
    assert login(owner).get(f"/bookings/{running.pk}/server/console").status_code == 404

    url = f"/api/v1/bookings/{running.pk}/server/console"
    body = login(renter).get(url + "?length=3").json()
    assert body["available"] is True and len(body["output"].splitlines()) == 3
    assert login(staff).get(url).status_code == 200
    assert login(factories.renter()).get(url).status_code == 404
    denied = login(owner).get(url)
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    for bad in ("0", "1001", "ten", "1e3", "-5"):
        r = login(renter).get(url + f"?length={bad}")
        assert r.status_code == 400 and r.json()["fields"]["length"], bad


def test_server_api_shows_sources_and_the_console_to_the_renter(running, renter, owner):
    mine = login(renter).get(f"/api/v1/bookings/{running.pk}/server").json()
    assert mine["ssh"].startswith("ssh ubuntu@198.51.100.") and mine["addresses"]
    assert mine["ssh_cidrs"] == ["203.0.113.9/32"] and mine["has_user_data"] is True
    assert mine["console"].endswith(f"/api/v1/bookings/{running.pk}/server/console")
    theirs = login(owner).get(f"/api/v1/bookings/{running.pk}/server").json()
    assert "console" not in theirs and "has_user_data" not in theirs


def test_console_before_a_server_says_so(sim_offering, renter):
    b = booking(renter, sim_offering)
    body = login(renter).get(f"/api/v1/bookings/{b.pk}/server/console").json()
    assert body == {"available": False, "output": "", "message": body["message"]} and "No server yet" in body["message"]


def test_connection_command_for_an_unknown_image_is_plain_ssh(sim_offering, renter):
    from provisioning import selectors

    b = booking(renter, sim_offering, image="my-appliance")
    services.server_launch(booking_id=b.pk)
    assert selectors.connection_info(b)["ssh"].startswith("ssh 198.51.100.")


# ---- the OpenStack driver's requests (a recording stand-in for openstacksdk's proxies) ------------------


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def has_service(self, name: str) -> bool:
        return True


def _recording_driver() -> tuple[OpenStackDriver, _Recorder]:
    rec = _Recorder()

    def create_group(**kw: Any) -> Any:
        rec.calls.append(("group", kw))
        return SimpleNamespace(id="sg-1")

    def create_rules(data: list[dict[str, Any]]) -> list[Any]:
        rec.calls.append(("rules", data))
        return []

    def create_server(**kw: Any) -> Any:
        rec.calls.append(("server", kw))
        return SimpleNamespace(id="srv-1", status="BUILD")

    def console(server_id: str, length: int | None = None) -> dict[str, str]:
        rec.calls.append(("console", (server_id, length)))
        return {"output": "line1\nline2\n"}

    rec.network = SimpleNamespace(  # type: ignore[attr-defined]
        create_security_group=create_group, create_security_group_rules=create_rules, security_groups=lambda **kw: []
    )
    rec.compute = SimpleNamespace(create_server=create_server, get_server_console_output=console)  # type: ignore[attr-defined]
    cloud = SimpleNamespace(pk=None, updated_at=None)
    return OpenStackDriver(cloud, conn=rec), rec  # type: ignore[arg-type]


def test_openstack_security_group_rules_come_from_the_renters_ranges_only(settings):
    driver, rec = _recording_driver()
    driver.ensure_security_group(name="g", description="d", fresh=True, cidrs=("203.0.113.9/32", "2001:db8::/64"))
    rules = next(data for kind, data in rec.calls if kind == "rules")
    assert {(r["protocol"], r["ethertype"], r["remote_ip_prefix"]) for r in rules} == {
        ("tcp", "IPv4", "203.0.113.9/32"),
        ("icmp", "IPv4", "203.0.113.9/32"),
        ("tcp", "IPv6", "2001:db8::/64"),
        ("ipv6-icmp", "IPv6", "2001:db8::/64"),
    }
    assert all(r["direction"] == "ingress" and r["security_group_id"] == "sg-1" for r in rules)
    assert all((r["port_range_min"], r["port_range_max"]) == (22, 22) for r in rules if r["protocol"] == "tcp")
    driver, rec = _recording_driver()
    driver.ensure_security_group(name="g", description="d", fresh=True)
    assert [kind for kind, _ in rec.calls] == ["group"]  # no sources: no ingress rule at all


def test_openstack_create_server_sends_user_data_base64_and_reads_the_console(settings):
    from provisioning.drivers import LaunchSpec

    settings.PROVISIONING_NETWORKS = "none"
    driver, rec = _recording_driver()
    spec = LaunchSpec("n", 1, "f", "i", "k", "g", {}, [], user_data="#cloud-config\né\n")
    driver.create_server(spec)
    sent = next(kw for kind, kw in rec.calls if kind == "server")
    assert base64.b64decode(sent["user_data"]).decode() == "#cloud-config\né\n"
    assert driver.console_output("srv-1", length=50) == "line1\nline2\n"
    assert ("console", ("srv-1", 50)) in rec.calls


def test_a_bound_secret_decrypts_only_in_its_context():
    sealed = crypto.encrypt("s3cret", context="a")
    assert crypto.decrypt(sealed, context="a") == "s3cret"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(sealed, context="b")
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(crypto.encrypt("s3cret"), context="a")  # an unbound one is not taken for a bound one
    assert crypto.decrypt(crypto.encrypt("plain")) == "plain"  # secrets stored without a context, as before
